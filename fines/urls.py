from django.urls import path

app_name = "fines"
urlpatterns = []
