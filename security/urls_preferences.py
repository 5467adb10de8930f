"""The Preferences pages, under /staff/preferences/ (namespace "preferences")."""

from django.urls import path

from security.views import preferences

app_name = "preferences"
urlpatterns = [
    path("", preferences.preferences_edit, name="edit"),
    path("lists/<slug:slug>/", preferences.preference_list, name="list"),
]
