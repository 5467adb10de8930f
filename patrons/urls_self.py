from django.urls import path

from patrons.views import me as views

urlpatterns = [
    path("", views.me, name="me"),
]
