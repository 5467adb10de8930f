"""The staff pages of the security app, under /staff/security/ (namespace "security")."""

from django.urls import path  # noqa: F401 (the pages add their paths here)

app_name = "security"
urlpatterns = []
