from django.contrib import admin

from security.admin import PolicyAdmin
from sites.models import Site


@admin.register(Site)
class SiteAdmin(PolicyAdmin):
    list_display = ["code", "name", "kind", "parent"]
    list_filter = ["kind"]
    search_fields = ["code", "name"]
    list_select_related = ["parent"]
    readonly_fields = ["created_at", "updated_at"]
