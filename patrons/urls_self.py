from django.urls import path

from patrons.views import me as views

urlpatterns = [
    path("", views.me, name="me"),
    path("contact/", views.contact, name="me_contact"),
    path("data/", views.data, name="me_data"),
]
