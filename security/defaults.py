"""The six default security groups and their permissions (ARCHITECTURE.md). Administrators
change them later, always within the policy. Used by the data migration and by tests that
flush the database."""

from security.models import Level

PATRONS_VIEW = ["patrons.view_patron", "patrons.add_patron"]
PATRONS_TABS = [
    "patrons.change_patron",
    "patrons.edit_personal",
    "patrons.edit_contact",
    "patrons.edit_notes",
    "patrons.edit_blocks",
]
PATRONS_ADMIN = [
    "patrons.edit_access",
    "patrons.delete_patron",
    "patrons.merge_patron",
    "patrons.import_patrons",
    "patrons.export_patrons",
    "patrons.override_blocks",
]
PREFERENCES = ["security.manage_preferences"]
SECURITY = [
    "security.view_securitygroup",
    "security.add_securitygroup",
    "security.change_securitygroup",
    "security.delete_securitygroup",
    "security.grant_permission",
    "security.view_operator_log",
]
SITES = ["sites.view_site", "sites.add_site", "sites.change_site", "sites.delete_site"]
ALL = "all"
# The fines app's permissions, given to the default groups by its own migration (they do
# not exist yet when the groups are made): see FINES_DEFAULTS.
FINES_DESK = ["fines.view_fee", "fines.pay_fee"]
FINES_STAFF = FINES_DESK + ["fines.add_fee"]
FINES_LIBRARIAN = FINES_STAFF + [
    "fines.waive_fee",
    "fines.dispute_fee",
    "fines.refund_fee",
    "fines.credit_fee",
    "fines.transfer_fee",
]

DEFAULT_GROUPS = [
    (
        "District Administrator",
        Level.DISTRICT_ADMINISTRATOR,
        "Full access to every area and site. Cannot be modified or deleted.",
        ALL,
    ),
    (
        "Library Administrator",
        Level.LIBRARY_ADMINISTRATOR,
        "Runs a library: patrons, security groups, grants, sites, preferences and the log.",
        PATRONS_VIEW + PATRONS_TABS + PATRONS_ADMIN + PREFERENCES + SECURITY + SITES,
    ),
    (
        "Librarian",
        Level.LIBRARIAN,
        "Manages patrons and their access, imports and exports, and preferences.",
        PATRONS_VIEW + PATRONS_TABS + PATRONS_ADMIN + PREFERENCES,
    ),
    (
        "Library Staff",
        Level.LIBRARY_STAFF,
        "Registers patrons and edits their personal, contact, notes and blocks tabs.",
        PATRONS_VIEW + PATRONS_TABS,
    ),
    (
        "Library Aide",
        Level.LIBRARY_AIDE,
        "Finds, views and registers patrons.",
        PATRONS_VIEW,
    ),
    ("Patron", Level.PATRON, "No staff access: a patron's own account page only.", []),
]


# What the default groups may pass on as explicit grants (Evergreen's grantable flag): a
# Library Administrator can give an operator one patrons permission at one site out of the
# box. District Administrators may grant everything without marks.
DEFAULT_GRANTABLE = {
    "Library Administrator": PATRONS_VIEW + PATRONS_TABS + PATRONS_ADMIN,
}


FINES_DEFAULTS = {
    "Library Administrator": FINES_LIBRARIAN,
    "Librarian": FINES_LIBRARIAN,
    "Library Staff": FINES_STAFF,
    "Library Aide": FINES_DESK,
}
FINES_GRANTABLE = {"Library Administrator": FINES_LIBRARIAN}


# security.assign_securitygroup came after the default groups: its migration gives it.
STAFF_GROUP_GIVERS = {"Library Administrator": ["security.assign_securitygroup"]}


def add_staff_group_givers(apps) -> None:
    """Give the default Library Administrator the right to give staff groups (idempotent)."""
    _add_to_default_groups(apps, STAFF_GROUP_GIVERS)


def add_fines_defaults(apps) -> None:
    """Give the default groups (those that exist) their fines permissions, and the Library
    Administrator the right to pass them on (idempotent)."""
    _add_to_default_groups(apps, FINES_DEFAULTS, grantable=FINES_GRANTABLE)


def _add_to_default_groups(apps, held: dict, *, grantable: dict | None = None) -> None:
    """Permissions that came after the default groups: added to those groups that exist."""
    SecurityGroup = apps.get_model("security", "SecurityGroup")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in held.items():
        group = SecurityGroup.objects.filter(name=name).first()
        if group is None:
            continue
        group.permissions.add(*_permissions(Permission, perms))
        if grantable and name in grantable:
            group.grantable_permissions.add(*_permissions(Permission, grantable[name]))


def mark_default_grantable(apps) -> None:
    """Mark the default grantable permissions of default groups that have no marks yet
    (idempotent; groups administrators configured are left alone)."""
    SecurityGroup = apps.get_model("security", "SecurityGroup")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in DEFAULT_GRANTABLE.items():
        group = SecurityGroup.objects.filter(name=name).first()
        if group is not None and not group.grantable_permissions.exists():
            held = set(group.permissions.values_list("pk", flat=True))
            wanted = [p for p in _permissions(Permission, perms) if p.pk in held]
            group.grantable_permissions.set(wanted)


def ensure_default_groups(apps) -> None:
    """Create any missing default group with its default permissions (idempotent; an
    existing group is left as administrators configured it)."""
    SecurityGroup = apps.get_model("security", "SecurityGroup")
    Permission = apps.get_model("auth", "Permission")
    for name, level, description, perms in DEFAULT_GROUPS:
        group, created = SecurityGroup.objects.get_or_create(
            name=name,
            defaults={
                "level": level,
                "description": description,
                "is_protected": level == Level.DISTRICT_ADMINISTRATOR,
            },
        )
        if created:
            group.permissions.set(_permissions(Permission, perms))


def _permissions(Permission, perms):
    if perms == ALL:
        return Permission.objects.all()
    wanted = [perm.split(".", 1) for perm in perms]
    found = list(
        Permission.objects.filter(
            content_type__app_label__in={app for app, _ in wanted},
            codename__in={codename for _, codename in wanted},
        )
    )
    found_names = {f"{p.content_type.app_label}.{p.codename}" for p in found}
    missing = set(perms) - found_names
    if missing:
        raise LookupError(f"Default permissions not found: {sorted(missing)}")
    return [p for p in found if f"{p.content_type.app_label}.{p.codename}" in set(perms)]
