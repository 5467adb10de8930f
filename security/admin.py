"""The Django admin: District Administrators only (Patron.is_staff). Every permission
question goes to the policy with the object, so the protected District Administrator
group is read-only here as everywhere."""

from django.contrib import admin
from django_otp.plugins.otp_static import admin as _otp_static_admin  # noqa: F401 (registers)
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp import admin as _otp_totp_admin  # noqa: F401 (registers)
from django_otp.plugins.otp_totp.models import TOTPDevice

from security.models import GroupDelegation, SecurityGroup

admin.site.site_header = "LibStaff administration"
admin.site.site_title = "LibStaff admin"
admin.site.index_title = "District administration"

# django-otp's admin would show every operator's TOTP secret and recovery codes: whoever
# reads them can sign in as that operator. Devices are managed on the two-factor pages.
for _device_model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_device_model):
        admin.site.unregister(_device_model)


class ReadOnly:
    """For rows that only services write: the admin shows them, never adds, changes or
    deletes one (that would bypass the services' rules and log)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PolicyAdmin(admin.ModelAdmin):
    """Asks the policy about the object itself (Django's defaults ignore `obj`) and
    records who created and last changed a row."""

    def _perm(self, action: str) -> str:
        return f"{self.opts.app_label}.{action}_{self.opts.model_name}"

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm(self._perm("view"), obj) or self.has_change_permission(
            request, obj
        )

    def has_change_permission(self, request, obj=None):
        return request.user.has_perm(self._perm("change"), obj)

    def has_delete_permission(self, request, obj=None):
        return request.user.has_perm(self._perm("delete"), obj)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)


class GroupDelegationInline(ReadOnly, admin.TabularInline):
    """The group's object permissions (delegations), read-only: they are given and taken
    back on the group page, through the services that check and log them. A row added
    here would bypass both."""

    model = GroupDelegation
    fk_name = "content_object"
    fields = readonly_fields = ["user", "permission", "delegated_by", "delegated_at"]
    extra = 0
    can_delete = False
    verbose_name_plural = "delegations (object permissions)"

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("security.view_securitygroup", obj)


@admin.register(SecurityGroup)
class SecurityGroupAdmin(PolicyAdmin):
    inlines = [GroupDelegationInline]
    list_display = ["name", "level", "is_protected", "updated_at"]
    list_filter = ["level", "is_protected"]
    search_fields = ["name", "description"]
    filter_horizontal = ["permissions"]
    readonly_fields = ["is_protected", "created_at", "updated_at"]
    fields = ["name", "level", "description", "permissions", *readonly_fields]

    def get_inline_instances(self, request, obj=None):
        """The delegations are shown, never posted: a save handles the group alone (a
        read-only inline has nothing to save, and no management form to require)."""
        if request.method == "POST":
            return []
        return super().get_inline_instances(request, obj)
