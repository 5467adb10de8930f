"""Operations on security groups, explicit grants and the first install. Grants are
written only here."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import pghistory
from django.contrib.auth.models import Permission
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from security import group_selectors, log, policy, preference_lists, preferences
from security.models import Grant, GroupDelegation, Level, Preferences, SecurityGroup
from security.permission_areas import label_of, permission_name, permissions_named
from sites.models import Site

PERMISSION_NOT_HELD = "You can only give permissions that you hold yourself."
LEVEL_AT_OR_ABOVE_OWN = "A group can only be placed at a level below your own."
GROUP_HAS_MEMBERS = "Choose the group that this group's members move to."
GROUP_PERMISSION_NOT_HELD = PERMISSION_NOT_HELD + " You do not hold: {labels}."
GRANTABLE_NEEDS_PERMISSION = (
    "Only a permission that the group has, its own or inherited, can be grantable: {labels}."
)
DEFAULT_GROUP_LOCKED = (
    "New patrons join this group: it cannot be deleted or moved to another level."
)
OWN_GROUP_LOCKED = "You cannot delete your own security group or change its level."
INHERITED_OUT_OF_REACH = (
    "Groups that you cannot change inherit from this group ({names}): what it holds stays as it is."
)
GROUP_CHANGED_MEANWHILE = (
    "{who} changed this group at {when} while you were editing it. Your changes were not "
    "saved: review theirs, then make yours again."
)
OWNER_OUT_OF_SCOPE = (
    "A group can only belong to a site within your own site access: whoever changes a "
    "group changes what each of its members can do."
)
PARENT_OUT_OF_REACH = "A group can only inherit from a group below your level that you can see."
MEMBERS_OUTSIDE_OWNER = (
    "{count} of this group's members have a home site outside {site}: a group's members "
    "belong to its owner site or one of its branches."
)
ALREADY_INSTALLED = "LibStaff is already set up: a District Administrator exists."
_INSTALL_LOCK = 0x11B5_7AFF  # PostgreSQL advisory lock key of the first install

GRANTEE_NOT_BELOW = policy.GRANTEE_NOT_BELOW
GRANTEE_NOT_OPERATOR = policy.GRANTEE_NOT_OPERATOR
GRANT_EXISTS = "This operator already holds this permission at this site."
DELEGATION_EXISTS = "{name} already holds this for {group}."
DELEGATE_CHANGES_PERMISSIONS_ONLY = (
    "This group's permissions were delegated to you: you can change them, and nothing else."
)
GROUP_CHANGED = "security group changed"  # why a grant was revoked, in the operator log


def _acting(actor):
    return pghistory.context(user=actor.pk if actor is not None else None)


class _Unchanged:
    def __repr__(self):
        return "UNCHANGED"


UNCHANGED = _Unchanged()  # group_update: keep the current parent or grantable marks


@dataclass(frozen=True)
class _Holdings:
    """A group's own permissions and grantable marks (only those on permissions it holds),
    and all it holds and may pass on with what it inherits: names "app.codename"."""

    own: frozenset[str]
    marks: frozenset[str]
    held: frozenset[str]
    grantable: frozenset[str]

    def changed(self, other: "_Holdings") -> set[str]:
        return (
            (self.own ^ other.own)
            | (self.marks ^ other.marks)
            | (self.held ^ other.held)
            | (self.grantable ^ other.grantable)
        )


_NOTHING = _Holdings(frozenset(), frozenset(), frozenset(), frozenset())
_LOGGED_FIELDS = ["name", "level", "description", "parent", "owner_site"]


def _holdings(group: SecurityGroup) -> _Holdings:
    held, grantable = policy.group_permissions(group)
    own = frozenset(_names(group.permissions.all()))
    marks = frozenset(_names(group.grantable_permissions.all())) & held
    return _Holdings(own=own, marks=marks, held=held, grantable=grantable)


def _names(permissions: Iterable[Permission]) -> set[str]:
    return {permission_name(p) for p in _with_content_types(permissions)}


def _with_content_types(permissions: Iterable[Permission]) -> list[Permission]:
    if isinstance(permissions, QuerySet):
        return list(permissions.select_related("content_type"))
    return list(permissions)


def _check_level(actor, level: int, action: str) -> None:
    if not policy.can(actor, action, SecurityGroup(level=level)):
        raise PermissionDenied(LEVEL_AT_OR_ABOVE_OWN)


def _require_only_permissions_changed(group, name, level, description, parent, owner_site):
    """A delegate of a group's permissions changes those and nothing else."""
    same = (
        (name, level, description) == (group.name, group.level, group.description)
        and parent in (UNCHANGED, group.parent)
        and owner_site in (UNCHANGED, group.owner_site)
    )
    if not same:
        raise PermissionDenied(DELEGATE_CHANGES_PERMISSIONS_ONLY)


def _check_owner(actor, owner_site: Site | None, action: str) -> None:
    if not policy.can_own_group(actor, action, owner_site):
        raise PermissionDenied(OWNER_OUT_OF_SCOPE)


def _check_parent(actor, parent: SecurityGroup | None) -> None:
    if parent is not None and not policy.can(actor, policy.INHERIT_FROM_GROUP, parent):
        raise PermissionDenied(PARENT_OUT_OF_REACH)


def _check_members_within(members: QuerySet, owner_site: Site | None) -> None:
    """Members (of `group`, or moving into it) all have their home site within
    `owner_site` (None: anywhere): Patron.clean's rule, for many patrons at once."""
    if owner_site is None:
        return
    within = policy.descendants(policy.site_tree(), [owner_site.pk])
    outside = members.exclude(home_site_id__in=within).count()
    if outside:
        raise ValidationError(MEMBERS_OUTSIDE_OWNER.format(count=outside, site=owner_site))


def group_delete_refusal(*, actor, group: SecurityGroup) -> str | None:
    """Why the group can be neither deleted nor moved to another level, whoever asks: new
    patrons need their group, and nobody changes their own level (a District Administrator
    in a level-0 group of their own)."""
    default = preferences.default_group()
    if default is not None and default.pk == group.pk:
        return DEFAULT_GROUP_LOCKED
    if actor.security_group_id == group.pk:
        return OWN_GROUP_LOCKED
    return None


def _check_may_move(actor, group: SecurityGroup) -> None:
    refusal = group_delete_refusal(actor=actor, group=group)
    if refusal == OWN_GROUP_LOCKED:
        raise PermissionDenied(refusal)
    if refusal is not None:
        raise ValidationError(refusal)


class ChangedMeanwhile(ValidationError):
    """The row was saved by someone else after the editor loaded it; nothing was saved."""


def _check_not_stale(row, loaded_at: datetime | None, message=GROUP_CHANGED_MEANWHILE) -> None:
    if loaded_at is not None and loaded_at != row.updated_at:
        who = row.updated_by.display_name if row.updated_by else "Someone"
        when = timezone.localtime(row.updated_at).strftime("%H:%M")
        raise ChangedMeanwhile(message.format(who=who, when=when))


def _apply_permissions(group, permissions, grantable) -> _Holdings:
    """Save the group's own permissions and marks, and return what it holds as a result,
    its ancestors' included, read as the policy reads it. The caller checks the result;
    its transaction rolls everything back when a check fails."""
    group.permissions.set(permissions)
    if grantable is not UNCHANGED:
        group.grantable_permissions.set(grantable)
    return _holdings(group)


def _check_marks(grantable, after: _Holdings) -> None:
    if grantable is UNCHANGED:
        return
    void = _names(grantable) - after.held
    if void:
        labels = ", ".join(sorted(label_of(name) for name in void))
        raise ValidationError({"grantable": GRANTABLE_NEEDS_PERMISSION.format(labels=labels)})


def _require_changes_held(actor, before: _Holdings, after: _Holdings) -> None:
    """What the group holds or may pass on changes only in permissions the actor holds
    (District Administrators hold them all)."""
    not_held = {name for name in before.changed(after) if not policy.holds(actor, name)}
    if not_held:
        labels = ", ".join(sorted(label_of(name) for name in not_held))
        raise PermissionDenied(GROUP_PERMISSION_NOT_HELD.format(labels=labels))


def _require_descendants_changeable(actor, group: SecurityGroup) -> None:
    """A group at or above the actor's level may inherit from one below it: what the
    actor changes in the parent must not change such a group."""
    out_of_reach = [
        descendant
        for descendant in group_selectors.descendant_groups(group)
        if not policy.can(actor, "security.change_securitygroup", descendant)
    ]
    if out_of_reach:
        names = ", ".join(str(descendant) for descendant in out_of_reach)
        raise PermissionDenied(INHERITED_OUT_OF_REACH.format(names=names))


def _permission_details(before: _Holdings, after: _Holdings) -> dict:
    details = {}
    for key, old, new in [
        ("permissions", before.own, after.own),
        ("grantable", before.marks, after.marks),
    ]:
        if old != new:
            details[key] = {"added": sorted(new - old), "removed": sorted(old - new)}
    return details


@transaction.atomic
def group_create(
    *,
    actor,
    name: str,
    level: int,
    description: str = "",
    permissions: Iterable[Permission] = (),
    parent: SecurityGroup | None = None,
    grantable: Iterable[Permission] = (),
    owner_site: Site | None = None,
) -> SecurityGroup:
    """A group below the actor's level (only a District Administrator creates level 0),
    owned by a site within the actor's scope (no site: the whole district), with
    permissions the actor holds, its parent's included."""
    policy.require(actor, "security.add_securitygroup")
    _check_level(actor, level, "security.add_securitygroup")
    _check_owner(actor, owner_site, "security.add_securitygroup")
    _check_parent(actor, parent)
    group = SecurityGroup(
        name=name,
        level=level,
        description=description,
        parent=parent,
        owner_site=owner_site,
        created_by=actor,
        updated_by=actor,
    )
    with _acting(actor):
        group.full_clean()
        group.save()
        after = _apply_permissions(group, permissions, grantable)
        _require_changes_held(actor, _NOTHING, after)
        _check_marks(grantable, after)
        log.record(
            log.Kind.GROUP_CREATED,
            operator=actor,
            obj=group,
            site=group.owner_site,
            details=log.snapshot(group, _LOGGED_FIELDS) | _permission_details(_NOTHING, after),
        )
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
    parent: SecurityGroup | None | _Unchanged = UNCHANGED,
    grantable: Iterable[Permission] | _Unchanged = UNCHANGED,
    owner_site: Site | None | _Unchanged = UNCHANGED,
    loaded_at: datetime | None = None,
) -> SecurityGroup:
    """Rule 2: only groups below one's level, never moved to or above it; rule 3: never
    the protected group. What the group holds, its own permissions and grantable marks and
    what it inherits from its parent, changes only in permissions the editor holds.
    The group's owner site is within the actor's scope before and after (policy), and so
    are its members. Members whose level changes lose their explicit grants.
    `loaded_at` is the `updated_at` the editor saw: someone saved since, nothing is saved."""
    group = (
        SecurityGroup.objects.select_for_update(of=("self",))
        .select_related("updated_by", "owner_site")
        .get(pk=group.pk)
    )
    policy.require(actor, "security.change_securitygroup", group)
    _check_not_stale(group, loaded_at)
    if not policy.may_manage_delegations(actor, group):  # a delegate of its permissions
        _require_only_permissions_changed(group, name, level, description, parent, owner_site)
        grantable = UNCHANGED
    else:
        _check_level(actor, level, "security.change_securitygroup")
    level_changed = level != group.level
    if level_changed:
        _check_may_move(actor, group)
    before, logged = _holdings(group), log.snapshot(group, _LOGGED_FIELDS)
    if owner_site is not UNCHANGED and owner_site != group.owner_site:
        _check_owner(actor, owner_site, "security.change_securitygroup")
        _check_members_within(group.members.all(), owner_site)
        group.owner_site = owner_site
    group.name, group.level, group.description = name, level, description
    if parent is not UNCHANGED and parent != group.parent:
        _check_parent(actor, parent)
        group.parent = parent
    group.updated_by = actor
    with _acting(actor):
        group.full_clean()
        group.save()
        after = _apply_permissions(group, permissions, grantable)
        _require_changes_held(actor, before, after)
        if (before.held, before.grantable) != (after.held, after.grantable):
            _require_descendants_changeable(actor, group)
        _check_marks(grantable, after)
        if grantable is UNCHANGED:  # marks on permissions the group no longer holds go
            group.grantable_permissions.set(permissions_named(after.marks))
        details = log.changes(logged, group) | _permission_details(before, after)
        log.record(
            log.Kind.GROUP_CHANGED,
            operator=actor,
            obj=group,
            site=group.owner_site,
            details=details,
        )
        if level_changed:
            _revoke_members_grants(actor, group.members.all())
    return group


@transaction.atomic
def group_delete(*, actor, group: SecurityGroup, move_members_to: SecurityGroup | None) -> None:
    """Members move to another group the actor may assign (their history records the
    move); groups that inherited from this one inherit from its parent instead and take
    over its own permissions and marks, so that they hold exactly what they held."""
    from patrons.models import Patron

    group = (
        SecurityGroup.objects.select_for_update(of=("self",))
        .select_related("owner_site")
        .get(pk=group.pk)
    )
    policy.require(actor, "security.delete_securitygroup", group)
    _check_may_move(actor, group)
    members = Patron.objects.filter(security_group=group)
    member_count = members.count()
    if member_count:
        if move_members_to is None or move_members_to.pk == group.pk:
            raise ValidationError(GROUP_HAS_MEMBERS)
        policy.require(actor, policy.ASSIGN_GROUP, move_members_to)
        _check_members_within(members, move_members_to.owner_site)
    own, marks = list(group.permissions.all()), list(group.grantable_permissions.all())
    children = list(group.children.select_for_update())
    details = {"name": group.name, "level": group.level, "members_moved": member_count}
    if member_count:
        details["members_moved_to"] = str(move_members_to)
    if children:
        details["children_moved_to"] = str(group.parent) if group.parent_id else None
    with _acting(actor):
        for child in children:
            child.parent, child.updated_by = group.parent, actor
            child.save(update_fields=["parent", "updated_by", "updated_at"])
            child.permissions.add(*own)
            child.grantable_permissions.add(*marks)
        _revoke_members_grants(actor, members)
        members.update(
            security_group=move_members_to,
            updated_by=actor,
            updated_at=timezone.now(),
            version=F("version") + 1,  # an Access tab open on a member must reload
        )
        log.record(
            log.Kind.GROUP_DELETED,
            operator=actor,
            obj=group,
            site=group.owner_site,
            details=details,
        )
        group.delete()


@transaction.atomic
def grant_create(
    *, actor, operator, permission: Permission, site: Site, kind: str = Grant.Kind.ADDS
) -> Grant:
    """Rule 7 (security.policy.can_grant): one permission for one operator at one site and
    its descendants, added to where they hold it, or limiting their group's permission to
    that site (`kind`). The recipient's row is locked, so a change of their group either
    happens first (and is checked here) or reviews this grant too."""
    name = permission_name(permission)
    recipient = _locked_patron(operator)
    policy.require_grant(actor, name, site, recipient, kind)
    with _acting(actor):
        grant, created = Grant.objects.get_or_create(
            operator=recipient,
            permission=permission,
            site=site,
            defaults={"granted_by": actor, "kind": kind},
        )
        if not created:
            raise ValidationError(GRANT_EXISTS)
        log.record(
            log.Kind.GRANT_CREATED,
            operator=actor,
            patron=recipient,
            obj=grant,
            site=site,
            details={"permission": name, "kind": kind},
        )
    policy.forget(operator)
    return grant


@transaction.atomic
def grant_revoke(*, actor, grant: Grant) -> None:
    """Take a grant back (security.policy.can_revoke_grant). Already gone: nothing to do."""
    grant = (
        Grant.objects.select_for_update(of=("self",))
        .select_related("operator__security_group", "permission__content_type", "site")
        .filter(pk=grant.pk)
        .first()
    )
    if grant is None:
        return
    policy.require_revoke_grant(actor, grant)
    with _acting(actor):
        _revoke(actor, grant.operator, [grant])
    policy.forget(grant.operator)


@transaction.atomic
def grants_review_on_group_change(
    *, actor, operator, keep: Iterable[int] = (), keep_delegations: Iterable[int] = ()
) -> None:
    """Call when `operator`'s security group has just changed, with their row locked. Every
    explicit grant and group delegation not kept on purpose is revoked, so that nobody
    keeps the powers of an old job; an operator who became a patron keeps none. Ids that
    are not this operator's are ignored."""
    policy.require(actor, "patrons.edit_access", operator)
    grants = Grant.objects.filter(operator=operator).select_related(
        "permission__content_type", "site"
    )
    delegations = _delegations_of(GroupDelegation.objects.filter(user=operator))
    if operator.security_group.level < Level.PATRON:
        # Limits stay: dropping one would give power back, which a review never does.
        grants = grants.exclude(pk__in=set(keep)).exclude(kind=Grant.Kind.LIMITS)
        delegations = [d for d in delegations if d.pk not in set(keep_delegations)]
    with _acting(actor):
        _revoke(actor, operator, list(grants), reason=GROUP_CHANGED)
        _revoke_delegations(actor, delegations, reason=GROUP_CHANGED)
    policy.forget(operator)


def _revoke_members_grants(actor, members: QuerySet) -> None:
    """Members of a group whose level changes, or who move to another group, keep none of
    their explicit grants: as on the Access tab, nobody keeps the powers of an old job.
    The caller has checked that the actor may change the group and its members."""
    grants = (
        Grant.objects.filter(operator__in=members)
        .exclude(kind=Grant.Kind.LIMITS)  # limits stay: they take power away
        .select_related("operator", "permission__content_type", "site")
    )
    by_operator: dict[int, list[Grant]] = {}
    for grant in grants:
        by_operator.setdefault(grant.operator_id, []).append(grant)
    for held in by_operator.values():
        _revoke(actor, held[0].operator, held, reason=GROUP_CHANGED)
    delegations = _delegations_of(GroupDelegation.objects.filter(user__in=members))
    _revoke_delegations(actor, delegations, reason=GROUP_CHANGED)


def _revoke(actor, operator, grants: list[Grant], *, reason: str = "") -> None:
    for grant in grants:
        details = {"permission": permission_name(grant.permission)}
        if reason:
            details["reason"] = reason
        log.record(
            log.Kind.GRANT_REVOKED,
            operator=actor,
            patron=operator,
            obj=grant,
            site=grant.site,
            details=details,
        )
    Grant.objects.filter(pk__in=[grant.pk for grant in grants]).delete()


# --- group delegations (django-guardian rows; security.policy.delegation_refusal) --------


@transaction.atomic
def delegation_create(
    *, actor, group: SecurityGroup, permission: str, recipient
) -> GroupDelegation:
    """Let `recipient` give `group` to patrons (security.assign_securitygroup) or change its
    permissions (security.change_securitygroup), on that group only. The recipient's row is
    locked, so a change of their group happens first (and is checked here) or reviews this
    delegation too."""
    recipient = _locked_patron(recipient)
    refusal = policy.delegation_refusal(actor, group, permission, recipient)
    if refusal is not None:
        raise PermissionDenied(refusal)
    delegation, created = GroupDelegation.objects.get_or_create(
        user=recipient,
        permission=permissions_named([permission]).get(),
        content_object=group,
        defaults={"delegated_by": actor},
    )
    if not created:
        raise ValidationError(
            DELEGATION_EXISTS.format(name=recipient.display_name, group=group.name)
        )
    log.record(
        log.Kind.DELEGATED,
        operator=actor,
        patron=recipient,
        obj=group,
        site=group.owner_site,
        details={"permission": permission, "group": group.name},
    )
    policy.forget(recipient)
    return delegation


@transaction.atomic
def delegation_revoke(*, actor, delegation: GroupDelegation) -> None:
    """Take a delegation back (security.policy.can_revoke_delegation). Gone already: done."""
    delegation = (
        _delegations_of(
            GroupDelegation.objects.select_for_update(of=("self",)).filter(pk=delegation.pk)
        )
        or [None]
    )[0]
    if delegation is None:
        return
    if not policy.can_revoke_delegation(actor, delegation.content_object, delegation.user):
        raise PermissionDenied(policy.DENIED)
    _revoke_delegations(actor, [delegation])


def _delegations_of(delegations: QuerySet) -> list[GroupDelegation]:
    return list(
        delegations.select_related(
            "user__security_group", "permission__content_type", "content_object__owner_site"
        )
    )


def _revoke_delegations(actor, delegations: list[GroupDelegation], *, reason: str = "") -> None:
    for delegation in delegations:
        details = {
            "permission": permission_name(delegation.permission),
            "group": delegation.content_object.name,
        }
        if reason:
            details["reason"] = reason
        log.record(
            log.Kind.DELEGATION_REVOKED,
            operator=actor,
            patron=delegation.user,
            obj=delegation.content_object,
            site=delegation.content_object.owner_site,
            details=details,
        )
        policy.forget(delegation.user)
    GroupDelegation.objects.filter(pk__in=[d.pk for d in delegations]).delete()


def _locked_patron(patron):
    from patrons.models import Patron

    return (
        Patron.objects.select_for_update(of=("self",))
        .select_related("security_group")
        .get(pk=patron.pk)
    )


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


NO_DISTRICT_ADMINISTRATOR_NAMED = (
    "No District Administrator has the username {username}. To give one a username, name "
    "them with --email too."
)
NO_DISTRICT_ADMINISTRATOR_EMAIL = (
    "No District Administrator, or more than one, has the email {email}."
)
USERNAME_IN_USE = "Another account already uses the username {username}."


@transaction.atomic
def district_administrator_recover(
    *, username: str, password: str, email: str = "", reset_two_factor: bool = False
):
    """From the shell, when nobody can sign in as a District Administrator any more: the
    one named by `username` (or, with `email`, the one with that email, who then gets
    `username`) is made active with a new password, and their sign-in lockouts end; their
    two-factor devices go with `reset_two_factor`. Logged, with no operator."""
    from axes.utils import reset as axes_reset
    from django.db.models.functions import Lower
    from django_otp import device_classes

    from patrons.models import Patron

    admins = Patron.objects.select_for_update(of=("self",)).filter(
        security_group__level=Level.DISTRICT_ADMINISTRATOR
    )
    admin = admins.alias(key=Lower("username")).filter(key=username.lower()).first()
    if admin is None and not email:
        raise ValidationError(NO_DISTRICT_ADMINISTRATOR_NAMED.format(username=username))
    if admin is None:
        matches = list(admins.alias(key=Lower("email")).filter(key=email.lower())[:2])
        if len(matches) != 1:
            raise ValidationError(NO_DISTRICT_ADMINISTRATOR_EMAIL.format(email=email))
        admin = matches[0]
        taken = Patron.objects.alias(key=Lower("username")).filter(key=username.lower())
        if taken.exclude(pk=admin.pk).exists():
            raise ValidationError(USERNAME_IN_USE.format(username=username))
    before = log.snapshot(admin, ["username", "status", "password"])
    admin.username = admin.username or username
    admin.status = Patron.Status.ACTIVE
    validate_password(password, admin)
    admin.set_password(password)
    admin.must_change_password = False
    admin.version += 1
    with _acting(None):
        admin.full_clean()
        admin.save()
        if reset_two_factor:
            for model in device_classes():
                model.objects.filter(user=admin).delete()
    axes_reset(username=admin.username.lower())
    details = log.changes(before, admin) | {"recovered_from_the_shell": True}
    if reset_two_factor:
        details["two_factor_reset"] = True
    log.record(log.Kind.PATRON_CHANGED, patron=admin, operator_name="manage.py", details=details)
    return admin


# --- preferences -------------------------------------------------------------------------

PREFERENCES_CHANGED_MEANWHILE = (
    "{who} changed the preferences at {when} while you were editing them. Your changes were "
    "not saved: review theirs, then make yours again."
)
NEXT_BARCODE_NUMBER = "next_barcode_number"  # the barcode counter, logged with the fields


@transaction.atomic
def preferences_update(
    *,
    actor,
    values: dict,
    next_barcode_number: int | None = None,
    loaded_at: datetime | None = None,
) -> Preferences:
    """Change preference fields (`values`: name -> new value) and, when given, the number
    the next registration's barcode gets. Refused whole when someone saved since the editor
    loaded the page or when a change would weaken more powerful operators' sign-in."""
    policy.require(actor, policy.MANAGE_PREFERENCES)
    current = _locked_preferences()
    _check_not_stale(current, loaded_at, PREFERENCES_CHANGED_MEANWHILE)
    for name, value in values.items():
        refusal = policy.preference_refusal(actor, name, getattr(current, name), value)
        if refusal is not None:
            raise PermissionDenied(refusal)
    before = log.snapshot(current, values)
    for name, value in values.items():
        setattr(current, name, value)
    current.updated_by = actor
    with _acting(actor):
        current.full_clean()
        current.save()
    details = log.changes(before, current)
    if next_barcode_number is not None:
        _set_next_barcode_number(next_barcode_number, details["changes"])
    if details["changes"]:
        log.record(log.Kind.PREFERENCES_CHANGED, operator=actor, obj=current, details=details)
    preferences.remember(current)
    return current


def _locked_preferences() -> Preferences:
    locked = Preferences.objects.select_for_update(of=("self",))
    row, _ = locked.select_related("updated_by", "default_group").get_or_create(
        pk=Preferences.SINGLETON_ID
    )
    return row


def _set_next_barcode_number(number: int, changes: dict) -> None:
    from patrons import record_selectors

    old = record_selectors.peek_next_barcode_serial()
    if old != number:
        record_selectors.set_next_barcode_serial(number)
        changes[NEXT_BARCODE_NUMBER] = [old, number]


LIST_ENTRIES_IN_USE = "Records use {names}: in use, they cannot be deleted."


@transaction.atomic
def preference_list_update(
    *,
    actor,
    preference_list: preference_lists.PreferenceList,
    saves: Iterable[tuple[object | None, dict]],
    deletions: Iterable[object] = (),
) -> None:
    """Save a list's entries: `saves` are (entry or None for a new one, {field: value}
    for the list's fields), `deletions` entries to remove, refused whole when records use
    one of them."""
    policy.require(actor, policy.MANAGE_PREFERENCES)
    model = preference_list.model
    before = _entry_labels(preference_list)
    deletions = list(deletions)
    used = preference_lists.in_use(model, [entry.pk for entry in deletions])
    if used:
        names = ", ".join(entry.name for entry in used)
        raise ValidationError(LIST_ENTRIES_IN_USE.format(names=names))
    model.objects.filter(pk__in=[entry.pk for entry in deletions]).delete()
    for entry, values in saves:
        entry = entry if entry is not None else model()
        for name in preference_list.fields:
            setattr(entry, name, values[name])
        entry.full_clean()
        entry.save()
    after = _entry_labels(preference_list)
    if after != before:
        details = {"changes": {preference_list.label: [before, after]}}
        log.record(
            log.Kind.PREFERENCES_CHANGED,
            operator=actor,
            obj=preferences.current(),
            details=details,
        )


def _entry_labels(preference_list) -> list[str]:
    """Each entry as the log shows it: "Student (ST)", with its other fields."""
    rows = preference_list.model.objects.values_list(*preference_list.fields)
    return [
        f"{name} ({code})"
        + "".join(
            f", {field}: {value}"
            for field, value in zip(preference_list.extra_fields, extra, strict=True)
        )
        for code, name, *extra in rows
    ]
