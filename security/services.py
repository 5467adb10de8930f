"""Operations on security groups, explicit grants and the first install. Grants are
written only here."""

from collections.abc import Iterable

import pghistory
from django.contrib.auth.models import Permission
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction

from security import policy
from security.models import Grant, Level, SecurityGroup
from sites.models import Site

PERMISSION_NOT_HELD = "You can only give permissions that you hold yourself."
LEVEL_AT_OR_ABOVE_OWN = "A group can only be placed at a level below your own."
GROUP_HAS_MEMBERS = "Choose the group that this group's members move to."
ALREADY_INSTALLED = "LibStaff is already set up: a District Administrator exists."
GRANTEE_NOT_BELOW = "You can only grant permissions to operators below your own level."
_INSTALL_LOCK = 0x11B5_7AFF  # PostgreSQL advisory lock key of the first install

GRANTEE_NOT_OPERATOR = "Explicit permissions are for operators; patrons have no staff side."


def _acting(actor):
    return pghistory.context(user=actor.pk if actor is not None else None)


def _permission_name(permission: Permission) -> str:
    return f"{permission.content_type.app_label}.{permission.codename}"


def _check_permissions_held(actor, permissions: Iterable[Permission]) -> None:
    held = policy.permissions_of(actor)
    if any(_permission_name(p) not in held for p in permissions):
        raise PermissionDenied(PERMISSION_NOT_HELD)


def _check_level(actor, level: int) -> None:
    if not policy.can(actor, "security.change_securitygroup", SecurityGroup(level=level)):
        raise PermissionDenied(LEVEL_AT_OR_ABOVE_OWN)


@transaction.atomic
def group_create(
    *,
    actor,
    name: str,
    level: int,
    description: str = "",
    permissions: Iterable[Permission] = (),
) -> SecurityGroup:
    policy.require(actor, "security.add_securitygroup")
    _check_level(actor, level)
    permissions = list(permissions)
    _check_permissions_held(actor, permissions)
    group = SecurityGroup(
        name=name, level=level, description=description, created_by=actor, updated_by=actor
    )
    with _acting(actor):
        group.full_clean()
        group.save()
        group.permissions.set(permissions)
    return group


@transaction.atomic
def group_update(
    *,
    actor,
    group: SecurityGroup,
    name: str,
    level: int,
    description: str,
    permissions: Iterable[Permission],
) -> SecurityGroup:
    """Rule 2: only groups below one's level, never moved to or above it; rule 3: never
    the protected group. Only permissions the editor holds can be added or removed."""
    group = SecurityGroup.objects.select_for_update().get(pk=group.pk)
    policy.require(actor, "security.change_securitygroup", group)
    _check_level(actor, level)
    wanted, current = set(permissions), set(group.permissions.select_related("content_type"))
    _check_permissions_held(actor, wanted ^ current)
    group.name, group.level, group.description = name, level, description
    group.updated_by = actor
    with _acting(actor):
        group.full_clean()
        group.save()
        group.permissions.set(wanted)
    return group


@transaction.atomic
def group_delete(*, actor, group: SecurityGroup, move_members_to: SecurityGroup | None) -> None:
    """Members move to another group the actor may assign; nobody is left without one."""
    from patrons.models import Patron

    group = SecurityGroup.objects.select_for_update().get(pk=group.pk)
    policy.require(actor, "security.delete_securitygroup", group)
    members = Patron.objects.filter(security_group=group)
    with _acting(actor):
        if members.exists():
            if move_members_to is None or move_members_to.pk == group.pk:
                raise ValidationError(GROUP_HAS_MEMBERS)
            policy.require(actor, policy.ASSIGN_GROUP, move_members_to)
            members.update(security_group=move_members_to, updated_by=actor)
        group.delete()


@transaction.atomic
def grant_create(*, actor, operator, permission: Permission, site: Site) -> None:
    """Rule 7: one permission for one operator at one site (and its descendants)."""
    perm = _permission_name(permission)
    policy.require(actor, "security.grant_permission", site)
    if not policy.can(actor, perm, site):
        raise PermissionDenied(PERMISSION_NOT_HELD)
    if operator.security_group.level >= Level.PATRON:
        raise PermissionDenied(GRANTEE_NOT_OPERATOR)
    if not policy.can(actor, "patrons.edit_access", operator):
        raise PermissionDenied(GRANTEE_NOT_BELOW)
    with _acting(actor):
        Grant.objects.get_or_create(
            operator=operator, permission=permission, site=site, defaults={"granted_by": actor}
        )
    policy.forget(operator)


@transaction.atomic
def grant_revoke(*, actor, operator, permission: Permission, site: Site) -> None:
    policy.require(actor, "security.grant_permission", site)
    if not policy.can(actor, "patrons.edit_access", operator):
        raise PermissionDenied(GRANTEE_NOT_BELOW)
    with _acting(actor):
        Grant.objects.filter(operator=operator, permission=permission, site=site).delete()
    policy.forget(operator)


@transaction.atomic
def install_first_district_administrator(
    *,
    site_code: str,
    site_name: str,
    username: str,
    email: str,
    password: str,
    first_name: str = "",
    last_name: str,
):
    """First run: the district site and its District Administrator. Refused once any
    District Administrator exists (the setup page then disappears)."""
    from patrons.models import Patron
    from patrons.services import record_first_email

    with connection.cursor() as cursor:
        # Concurrent first runs queue here; the second then sees the first's administrator.
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_INSTALL_LOCK])
    if Patron.objects.filter(security_group__level=Level.DISTRICT_ADMINISTRATOR).exists():
        raise ValidationError(ALREADY_INSTALLED)
    site = Site(code=site_code, name=site_name, kind=Site.Kind.DISTRICT)
    site.full_clean()
    site.save()
    admin = Patron(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        home_site=site,
        security_group=SecurityGroup.objects.get(
            level=Level.DISTRICT_ADMINISTRATOR, is_protected=True
        ),
    )
    validate_password(password, admin)
    admin.set_password(password)
    admin.full_clean()
    admin.save()
    admin.site_access.add(site)
    record_first_email(admin)
    return admin
