"""Patrons in the Django admin (District Administrators only).

The admin may add an operator, through patrons.services like every other write, so the
rules hold here too; records are changed on the staff patron pages, not here, so that no
rule needs a second implementation."""

from django.contrib import admin
from django.contrib.auth.forms import BaseUserCreationForm

from patrons import services
from patrons.models import Patron, PatronType
from security.admin import PolicyAdmin

_ADD_FIELDS = ["first_name", "last_name", "email", "home_site", "username", "security_group"]


class PatronCreationForm(BaseUserCreationForm):
    class Meta:
        model = Patron
        fields = [*_ADD_FIELDS, "site_access", "must_change_password"]


@admin.register(Patron)
class PatronAdmin(PolicyAdmin):
    add_form = PatronCreationForm
    list_display = [
        "last_name",
        "first_name",
        "username",
        "barcode",
        "security_group",
        "home_site",
        "status",
    ]
    list_filter = ["security_group", "status", "home_site"]
    search_fields = ["last_name", "first_name", "preferred_first_name", "username", "barcode"]
    list_select_related = ["security_group", "home_site"]
    exclude = ["password"]
    add_fieldsets = [
        (None, {"fields": ["first_name", "last_name", "email", "home_site"]}),
        (
            "Access",
            {
                "fields": [
                    "username",
                    "security_group",
                    "site_access",
                    "must_change_password",
                    "password1",
                    "password2",
                ]
            },
        ),
    ]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else super().get_fieldsets(request, obj)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        created = services.patron_create(
            actor=request.user,
            password=data["password1"],
            site_access=data["site_access"],
            must_change_password=data["must_change_password"],
            **{field: data[field] for field in _ADD_FIELDS},
        )
        obj.pk = created.pk
        obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        """patron_create saved the site access already (and added the home site)."""


admin.site.register(PatronType)
