"""The permissions that administrators give security groups, by area, with the words a
librarian reads. The one list of them: the group pages show it as a matrix.

A permission declared here that does not exist yet (its app's migration has not run) is
left out until it does, and then shows up without a change here.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import Permission
from django.db.models import Q, QuerySet


@dataclass(frozen=True)
class Area:
    label: str
    permissions: tuple[tuple[str, str], ...]  # ("app.codename", label)


AREAS = (
    Area(
        "Patrons",
        (
            ("patrons.view_patron", "Find and view patrons"),
            ("patrons.add_patron", "Register patrons"),
            ("patrons.change_patron", "Change patron records"),
            ("patrons.edit_personal", "Edit the Personal tab"),
            ("patrons.edit_contact", "Edit the Contact tab"),
            ("patrons.edit_access", "Edit the Access tab: group, password, site access"),
            ("patrons.edit_notes", "Edit notes"),
            ("patrons.edit_blocks", "Edit blocks"),
            ("patrons.override_blocks", "Override blocks"),
            ("patrons.delete_patron", "Delete patrons"),
            ("patrons.merge_patron", "Merge patrons"),
            ("patrons.import_patrons", "Import patrons"),
            ("patrons.export_patrons", "Export patrons"),
        ),
    ),
    Area(
        "Fines",
        (
            ("fines.view_fee", "View fees and balances"),
            ("fines.add_fee", "Add fees"),
            ("fines.pay_fee", "Take payments and keep a cash drawer"),
            ("fines.waive_fee", "Waive fees and read the cash report"),
            ("fines.dispute_fee", "Dispute and restore fees"),
            ("fines.refund_fee", "Refund payments"),
            ("fines.credit_fee", "Give credit"),
            ("fines.transfer_fee", "Transfer fees to the bursar"),
        ),
    ),
    Area(
        "Security",
        (
            ("security.view_securitygroup", "View security groups"),
            ("security.add_securitygroup", "Create security groups"),
            ("security.change_securitygroup", "Change security groups"),
            ("security.assign_securitygroup", "Give staff groups to patrons (the Access tab)"),
            ("security.delete_securitygroup", "Delete security groups"),
            ("security.grant_permission", "Give operators explicit permissions"),
        ),
    ),
    Area(
        "Sites",
        (
            ("sites.view_site", "View sites"),
            ("sites.add_site", "Create sites"),
            ("sites.change_site", "Change sites"),
            ("sites.delete_site", "Delete sites"),
        ),
    ),
    Area("Preferences", (("security.manage_preferences", "Change preferences"),)),
    Area("Operator log", (("security.view_operator_log", "View the operator log"),)),
)

LABELS = {name: label for area in AREAS for name, label in area.permissions}


def permission_name(permission: Permission) -> str:
    return f"{permission.content_type.app_label}.{permission.codename}"


def label_of(name: str) -> str:
    """The label of a permission ("app.codename"); its code when it is not in an area."""
    return LABELS.get(name, name)


def permissions_named(names: Iterable[str]) -> QuerySet:
    """The Permission rows of names "app.codename" (those that exist)."""
    wanted = Q(pk__in=[])
    for name in names:
        app_label, codename = name.split(".", 1)
        wanted |= Q(content_type__app_label=app_label, codename=codename)
    return Permission.objects.filter(wanted)


def existing_permissions() -> dict[str, Permission]:
    """The declared permissions that exist, by "app.codename", in one query."""
    found = permissions_named(LABELS).select_related("content_type")
    return {permission_name(permission): permission for permission in found}
