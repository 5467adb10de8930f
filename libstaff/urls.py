from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("security.urls")),
    path("staff/patrons/", include("patrons.urls")),
    path("staff/fines/", include("fines.urls")),
    path("staff/sites/", include("sites.urls")),
    path("staff/security/", include("security.urls_staff")),
    path("staff/preferences/", include("security.urls_preferences")),
    path("me/", include("patrons.urls_self")),
    path("admin/", admin.site.urls),
]
