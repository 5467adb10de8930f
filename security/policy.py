"""The one place that decides what an operator may do.

Every "may operator O do X to Z" is answered here: `can`, `require`, `scope` (the same
answer as SQL) and `get_or_404`. Actions are Django permission names ("patrons.view_patron")
plus a few derived actions below. Views, templates and services ask through
`user.has_perm(action, obj)` (security.backends.PolicyBackend) or call this module.

The rules (ARCHITECTURE.md):
1. Level 5 (Patron) has no staff side at all.
2. Groups are changed only below one's own level, with security.change_securitygroup. A
   group holds its own permissions and its ancestors' (`group_permissions`). A group
   belongs to a site (its owner site; none: the whole district) within which its members'
   home sites lie (Patron.clean), and only operators whose scope covers that site change
   it: by editing a group nobody reaches an operator outside their scope. Groups are seen
   and given where they reach: their owner site's branches too.
3. The protected District Administrator group is never changed or deleted; only a District
   Administrator makes another one.
4. A patron's record is changed, and a group assigned, only when the patron's level and the
   new level are strictly below the operator's (District Administrators excepted), within
   the operator's site scope; nobody changes their own group.
5. Site scope: access to a site covers its descendants; outside scope is "not found". A
   patron's notes, blocks, statistics and fees have an owner site: they are seen and changed
   with the patron's rule and only within the operator's scope of that owner site.
7. Explicit grants (security.models.Grant) give one permission at one site and its
   descendants; who may give and take them back: `can_grant`, `can_revoke_grant`.
Two-factor sign-in: RESET_TWO_FACTOR (obj: a Patron) is for District Administrators only,
on another person within their scope; their own devices they renew themselves.
Rule 6 (data rules on save) lives in the patron model and services; its thresholds are
preferences, and who may weaken the sign-in rules is `preference_refusal`.

What an operator holds is computed once per operator object and cached on it, as Django's
ModelBackend does; call `forget(operator)` after changing their group, sites or grants.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, Model, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.http import Http404

from security.models import Grant, Level, Preferences, SecurityGroup, ancestor_chain
from security.permission_areas import permissions_named
from sites.models import Site

# Derived actions: not Permission rows; each needs the permission it maps to.
ASSIGN_GROUP = "security.assign_group"  # obj: the SecurityGroup to give a patron
# obj: the SecurityGroup a group of the operator's inherits from (its parent): one below
# their level, within reach; a district group too (a school's Student Aide under Library
# Aide). What the parent passes on is checked against what the operator holds.
INHERIT_FROM_GROUP = "security.inherit_from_group"
GRANT_SITE_ACCESS = "sites.grant_site_access"  # obj: the Site to put in a patron's access
# obj: a Patron. A signed-in, active patron of any level acting on their own account (/me/);
# no permission, no site scope, and not closed to level 5 by rule 1.
OWN_ACCOUNT = "patrons.own_account"
# obj: a Patron whose two-factor devices to delete; without obj, "may reset anyone's".
RESET_TWO_FACTOR = "security.reset_two_factor"
DERIVED_ACTIONS = {
    ASSIGN_GROUP: "patrons.edit_access",
    INHERIT_FROM_GROUP: "security.view_securitygroup",
    GRANT_SITE_ACCESS: "patrons.edit_access",
}

DENIED = "You do not have permission to do that."
OWN_GROUP = "Operators cannot change their own security group."

_CACHE_ATTR = "_libstaff_policy_facts"


@dataclass(frozen=True)
class _Facts:
    """What one operator holds: level, group permissions, site scope and grants."""

    level: int
    permissions: frozenset[str]
    scope_site_ids: frozenset[int]
    grant_site_ids: dict[str, frozenset[int]] = field(default_factory=dict)
    grantable: frozenset[str] = frozenset()  # of `permissions`, those the group may pass on
    site_parents: dict[int, int | None] = field(default_factory=dict)  # every site

    @property
    def is_district_admin(self) -> bool:
        return self.level == Level.DISTRICT_ADMINISTRATOR

    def holds(self, perm: str) -> bool:
        """Held somewhere: through the group or an explicit grant at any site."""
        return self.is_district_admin or perm in self.permissions or perm in self.grant_site_ids

    def site_ids_for(self, perm: str) -> frozenset[int] | None:
        """Sites where `perm` applies; None means every site."""
        if self.is_district_admin:
            return None
        from_group = self.scope_site_ids if perm in self.permissions else frozenset()
        return from_group | self.grant_site_ids.get(perm, frozenset())

    def holds_at(self, perm: str, site_id: int) -> bool:
        site_ids = self.site_ids_for(perm)
        return site_ids is None or site_id in site_ids

    def owner_site_ids_for(self, perm: str) -> frozenset[int] | None:
        """Owner sites of the groups that `perm` lets the operator change: the sites where
        they hold it. None means every group, the district's own (no owner site) included:
        those are for operators whose scope covers every site."""
        site_ids = self.site_ids_for(perm)
        if site_ids is None or site_ids.issuperset(self.site_parents):
            return None
        return site_ids

    def reachable_owner_ids(self, perm: str) -> frozenset[int] | None:
        """Owner sites of the groups the operator sees or gives for `perm`: the sites where
        they hold it and those sites' ancestors (a school's group is for its branches too).
        Groups of the whole district are always among them. None means every site."""
        site_ids = self.site_ids_for(perm)
        if site_ids is None:
            return None
        reach = set(site_ids)
        for site_id in site_ids:
            reach.update(ancestor_chain(self.site_parents, self.site_parents.get(site_id)))
        return frozenset(reach)


# --- the questions -----------------------------------------------------------------------


def can(operator, action: str, obj: Model | None = None) -> bool:
    if action == OWN_ACCOUNT:
        return _is_own_account(operator, obj)
    facts = _facts(operator)
    if facts is None or facts.level >= Level.PATRON:
        return False  # rule 1
    if action == RESET_TWO_FACTOR:
        return _may_reset_two_factor(operator, facts, obj)
    perm = DERIVED_ACTIONS.get(action, action)
    if obj is None:
        return facts.holds(perm)
    rule = _OBJECT_RULES.get(type(obj)._meta.concrete_model)
    if rule is None:
        return facts.is_district_admin and facts.holds(perm)
    return rule(operator, facts, action, perm, obj)


def require(operator, action: str, obj: Model | None = None, message: str = DENIED) -> None:
    if not can(operator, action, obj):
        raise PermissionDenied(message)


def can_assign_group(operator, patron, group: SecurityGroup) -> bool:
    """Rule 4: patron and new group both strictly below the operator; never oneself."""
    if patron.pk is not None and patron.pk == operator.pk:
        return False
    editable = patron.pk is None or can(operator, "patrons.edit_access", patron)
    return editable and can(operator, ASSIGN_GROUP, group)


def require_assign_group(operator, patron, group: SecurityGroup) -> None:
    if patron.pk is not None and patron.pk == operator.pk:
        raise PermissionDenied(OWN_GROUP)
    if not can_assign_group(operator, patron, group):
        raise PermissionDenied(DENIED)


def scope(operator, action: str, model_or_queryset) -> QuerySet:
    """Exactly the objects for which `can(operator, action, obj)` is true, as a queryset."""
    qs = _as_queryset(model_or_queryset)
    if action == OWN_ACCOUNT:
        own = qs.model is _patron_model() and _is_own_account(operator, operator)
        return qs.filter(pk=operator.pk) if own else qs.none()
    facts = _facts(operator)
    if facts is None or facts.level >= Level.PATRON:
        return qs.none()
    if action == RESET_TWO_FACTOR:
        patrons = qs.model is _patron_model() and facts.is_district_admin
        return qs.exclude(pk=operator.pk) if patrons else qs.none()
    perm = DERIVED_ACTIONS.get(action, action)
    scoper = _SCOPES.get(qs.model._meta.concrete_model)
    if scoper is None:
        return qs if facts.is_district_admin and facts.holds(perm) else qs.none()
    return scoper(operator, facts, action, perm, qs)


def get_or_404(operator, action: str, model_or_queryset, **lookup):
    """Fetch an object the operator may see, then require `action` on it.

    Missing and out-of-scope look the same (404) so we never confirm a record exists;
    visible but not allowed is a 403.
    """
    qs = _as_queryset(model_or_queryset)
    meta = qs.model._meta
    visible = scope(operator, f"{meta.app_label}.view_{meta.model_name}", qs)
    obj = visible.filter(**lookup).first()
    if obj is None:
        raise Http404(f"No {meta.verbose_name} found.")
    require(operator, action, obj)
    return obj


def forget(operator) -> None:
    """Drop what was cached about this operator (after a change of group, sites or grants)."""
    with contextlib.suppress(AttributeError):
        delattr(operator, _CACHE_ATTR)


def permissions_of(operator) -> frozenset[str]:
    """Every permission the operator holds anywhere, for the backend and the navigation."""
    facts = _facts(operator)
    if facts is None or facts.level >= Level.PATRON:
        return frozenset()
    if facts.is_district_admin:
        return frozenset(_all_permission_names())
    return facts.permissions | frozenset(facts.grant_site_ids)


def site_scope_ids(operator) -> frozenset[int] | None:
    """Sites within the operator's access (descendants included); None means all."""
    facts = _facts(operator)
    if facts is None:
        return frozenset()
    return None if facts.is_district_admin else facts.scope_site_ids


# --- object rules: one per model; scope() mirrors each in SQL -----------------------------


def _is_own_account(user, obj) -> bool:
    return (
        user is not None
        and user.is_authenticated
        and user.is_active
        and isinstance(obj, _patron_model())
        and obj.pk is not None
        and obj.pk == user.pk
    )


def _may_reset_two_factor(operator, facts: _Facts, patron) -> bool:
    if not facts.is_district_admin:
        return False
    if patron is None:
        return True
    return patron.pk != operator.pk and _patron_rule(
        operator, facts, "patrons.view_patron", "patrons.view_patron", patron
    )


# Seeing a patron's record or fees changes nothing: the level rule (4) is for changes.
_PATRON_READS = frozenset({"patrons.view_patron", "fines.view_fee"})


def _patron_rule(operator, facts: _Facts, action, perm, patron) -> bool:
    if not facts.holds_at(perm, patron.home_site_id):
        return False
    if action in _PATRON_READS or facts.is_district_admin:
        return True
    return patron.security_group.level > facts.level


def _patron_scope(operator, facts: _Facts, action, perm, qs) -> QuerySet:
    site_ids = facts.site_ids_for(perm)
    if site_ids is not None:
        qs = qs.filter(home_site_id__in=site_ids)
    if action not in _PATRON_READS and not facts.is_district_admin:
        qs = qs.filter(security_group__level__gt=facts.level)
    return qs


def _group_rule(operator, facts: _Facts, action, perm, group) -> bool:
    """Levels (rules 2 and 3) and owner sites: a group is shared by its members, so it is
    changed only by operators whose scope covers its owner site, and seen and given only
    where it reaches. Unsaved groups are level probes ("which levels may a group get?"):
    the owner of a new group is asked of `can_own_group`."""
    if not facts.holds(perm):
        return False
    if action in _GROUP_READS:
        if not _reaches(facts.reachable_owner_ids(perm), group.owner_site_id):
            return False
        if action == "security.view_securitygroup":
            return True
    elif group.pk is not None and not _covers(facts.owner_site_ids_for(perm), group.owner_site_id):
        return False
    if group.is_protected and action != ASSIGN_GROUP:
        return False  # rule 3: nobody changes or deletes the District Administrator group
    return facts.is_district_admin or group.level > facts.level


def _group_scope(operator, facts: _Facts, action, perm, qs) -> QuerySet:
    if not facts.holds(perm):
        return qs.none()
    if action in _GROUP_READS:
        reach = facts.reachable_owner_ids(perm)
        if reach is not None:
            qs = qs.filter(Q(owner_site_id__in=reach) | Q(owner_site__isnull=True))
        if action == "security.view_securitygroup":
            return qs
    else:
        owner_site_ids = facts.owner_site_ids_for(perm)
        if owner_site_ids is not None:
            qs = qs.filter(owner_site_id__in=owner_site_ids)
    if action != ASSIGN_GROUP:
        qs = qs.filter(is_protected=False)
    if not facts.is_district_admin:
        qs = qs.filter(level__gt=facts.level)
    return qs


# Seeing a group, giving it to a patron and inheriting from it change nothing the group's
# other members can do.
_GROUP_READS = ("security.view_securitygroup", ASSIGN_GROUP, INHERIT_FROM_GROUP)


def _reaches(reach: frozenset[int] | None, owner_site_id: int | None) -> bool:
    return reach is None or owner_site_id is None or owner_site_id in reach


def _covers(owner_site_ids: frozenset[int] | None, owner_site_id: int | None) -> bool:
    return owner_site_ids is None or (owner_site_id is not None and owner_site_id in owner_site_ids)


def can_own_group(operator, action: str, site: Site | None) -> bool:
    """Whether a group the operator creates or changes (`action`) may belong to `site`
    (None: the whole district, for operators whose scope covers every site)."""
    facts = _facts(operator)
    if facts is None or facts.level >= Level.PATRON or not facts.holds(action):
        return False
    return _covers(facts.owner_site_ids_for(action), site.pk if site is not None else None)


def group_owner_sites(operator, action: str) -> QuerySet:
    """The sites a group the operator creates or changes may belong to."""
    facts = _facts(operator)
    if facts is None or facts.level >= Level.PATRON or not facts.holds(action):
        return Site.objects.none()
    owner_site_ids = facts.owner_site_ids_for(action)
    return (
        Site.objects.all() if owner_site_ids is None else Site.objects.filter(pk__in=owner_site_ids)
    )


def _owned_rule(operator, facts: _Facts, action, perm, record) -> bool:
    """A sub-record of a patron with an owner site (a note, a block): the patron's rule,
    and the owner site within the operator's scope for `perm` (a note of another school
    is not seen, let alone changed)."""
    return facts.holds_at(perm, record.owner_site_id) and _patron_rule(
        operator, facts, action, perm, record.patron
    )


def _owned_scope(operator, facts: _Facts, action, perm, qs) -> QuerySet:
    site_ids = facts.site_ids_for(perm)
    if site_ids is not None:
        qs = qs.filter(owner_site_id__in=site_ids, patron__home_site_id__in=site_ids)
    if action not in _PATRON_READS and not facts.is_district_admin:
        qs = qs.filter(patron__security_group__level__gt=facts.level)
    return qs


def _site_rule(operator, facts: _Facts, action, perm, site) -> bool:
    return facts.holds_at(perm, site.pk)


def _site_scope(operator, facts: _Facts, action, perm, qs) -> QuerySet:
    site_ids = facts.site_ids_for(perm)
    return qs if site_ids is None else qs.filter(pk__in=site_ids)


def _patron_model():
    from django.contrib.auth import get_user_model

    return get_user_model()


class _Rules(dict):
    """Model -> rule, resolving the patrons app's models lazily (they import this module)."""

    # A patron's sub-records with an owner site.
    OWNED = ("patrons.Note", "patrons.Block", "patrons.PatronStatistic", "fines.Fee")

    def __init__(self, patron, group, site, owned):
        super().__init__({SecurityGroup: group, Site: site})
        self._patron, self._owned = patron, owned

    def get(self, model, default=None):
        if model is _patron_model():
            return self._patron
        if model._meta.label in self.OWNED:
            return self._owned
        return super().get(model, default)


_OBJECT_RULES = _Rules(_patron_rule, _group_rule, _site_rule, _owned_rule)
_SCOPES = _Rules(_patron_scope, _group_scope, _site_scope, _owned_scope)


# --- explicit grants (rule 7) -------------------------------------------------------------
# Evergreen's User Permission Editor, tightened. A holder of security.grant_permission gives
# one operator one permission at one site (and its descendants), only:
#   - at a site within the granter's own access where they hold grant_permission,
#   - a permission their group lets them pass on (SecurityGroup.grantable_permissions),
#   - to an operator (level <= 4) strictly below the granter's level, whose home site lies
#     within the granter's access.
# District Administrators grant everything, everywhere, to any operator below level 0.
# Revoking asks the same, except that the permission need not be grantable (taking power
# back never requires being able to give it) and the holder may since have become a patron.

GRANT_PERMISSION = "security.grant_permission"
GRANT_NOT_GRANTABLE = "You can only give permissions that your security group may pass on."
GRANT_SITE_OUT_OF_ACCESS = "You can only give permissions at sites within your own access."
GRANTEE_NOT_OPERATOR = "Explicit permissions are for operators; patrons have no staff side."
GRANTEE_NOT_BELOW = "You can only give permissions to operators below your own level."


def can_grant(operator, permission_name: str, site: Site, recipient) -> bool:
    return _grant_refusal(operator, permission_name, site, recipient) is None


def require_grant(operator, permission_name: str, site: Site, recipient) -> None:
    refusal = _grant_refusal(operator, permission_name, site, recipient)
    if refusal is not None:
        raise PermissionDenied(refusal)


def can_revoke_grant(operator, grant: Grant) -> bool:
    facts = _facts(operator)
    return _may_grant_at(facts, grant.site_id) and (
        _recipient_refusal(operator, facts, grant.operator, revoking=True) is None
    )


def require_revoke_grant(operator, grant: Grant) -> None:
    if not can_revoke_grant(operator, grant):
        raise PermissionDenied(DENIED)


def grant_recipient_refusal(operator, recipient) -> str | None:
    """Why `recipient` cannot receive a grant from `operator` (None: they can), for a form
    to say next to the field. Only for recipients within `grant_recipient_scope`."""
    return _recipient_refusal(operator, _facts(operator), recipient, revoking=False)


def grant_recipient_scope(operator, model_or_queryset) -> QuerySet:
    """Patrons whose home site lies within the granter's access: those a granter may look
    up by name. Anyone else is "not found"."""
    qs = _as_queryset(model_or_queryset)
    site_ids = _grant_site_ids(_facts(operator))
    return qs if site_ids is None else qs.filter(home_site_id__in=site_ids)


def grant_scope(operator, model_or_queryset=Grant) -> QuerySet:
    """The grants an operator may see: those at sites where they may grant."""
    qs = _as_queryset(model_or_queryset)
    site_ids = _grant_site_ids(_facts(operator))
    return qs if site_ids is None else qs.filter(site_id__in=site_ids)


def grant_sites(operator) -> QuerySet:
    """Sites at which the operator may give permissions."""
    site_ids = _grant_site_ids(_facts(operator))
    return Site.objects.all() if site_ids is None else Site.objects.filter(pk__in=site_ids)


def grantable_permissions(operator) -> QuerySet:
    """Permissions the operator may give (at the sites of `grant_sites`)."""
    facts = _facts(operator)
    if _grant_site_ids(facts) == frozenset():
        return Permission.objects.none()
    if facts.is_district_admin:
        return Permission.objects.all()
    return permissions_named(facts.grantable)


def _grant_refusal(operator, permission_name: str, site: Site, recipient) -> str | None:
    facts = _facts(operator)
    if facts is None or facts.level >= Level.PATRON or not facts.holds(GRANT_PERMISSION):
        return DENIED
    if not _may_grant_at(facts, site.pk):
        return GRANT_SITE_OUT_OF_ACCESS
    if not (facts.is_district_admin or permission_name in facts.grantable):
        return GRANT_NOT_GRANTABLE
    return _recipient_refusal(operator, facts, recipient, revoking=False)


def _grant_site_ids(facts: _Facts | None) -> frozenset[int] | None:
    """Sites within the operator's own access where they hold grant_permission (None: all).
    Grants they received themselves never widen it."""
    if facts is None or facts.level >= Level.PATRON:
        return frozenset()
    if facts.is_district_admin:
        return None
    return facts.scope_site_ids & (facts.site_ids_for(GRANT_PERMISSION) or frozenset())


def _may_grant_at(facts: _Facts | None, site_id: int) -> bool:
    site_ids = _grant_site_ids(facts)
    return site_ids is None or site_id in site_ids


def _recipient_refusal(operator, facts: _Facts | None, recipient, *, revoking: bool) -> str | None:
    site_ids = _grant_site_ids(facts)
    if site_ids is not None and recipient.home_site_id not in site_ids:
        return DENIED  # out of scope: callers looking recipients up say "not found"
    level = recipient.security_group.level
    if level >= Level.PATRON and not revoking:
        return GRANTEE_NOT_OPERATOR
    if recipient.pk == operator.pk or level <= facts.level:
        return GRANTEE_NOT_BELOW
    return None


# --- preferences -------------------------------------------------------------------------
# Holders of security.manage_preferences change them (a Librarian too, by default). A
# change that weakens the sign-in of more powerful operators is refused: otherwise the
# preferences would be a way around rules 2 and 4.

MANAGE_PREFERENCES = "security.manage_preferences"
WEAKER_PASSWORDS = "Only a District Administrator can make the password rules less strict."
TWO_FACTOR_DROPPED_ABOVE = (
    "Only a District Administrator can stop asking {levels} for two-factor sign-in: you can "
    "change it only for levels below your own."
)
_PASSWORD_STRENGTH = {
    Preferences.PasswordPolicy.LETTERS_AND_NUMBERS: 0,
    Preferences.PasswordPolicy.UPPER_LOWER_DIGIT: 1,
}
_NOBODY = -1  # two_factor_from_level None: no level is asked


def preference_refusal(operator, name: str, old, new) -> str | None:
    """Why the operator may not change preference `name` from `old` to `new`; None when
    they may (they hold security.manage_preferences: the caller checks that first)."""
    facts = _facts(operator)
    if facts is None or facts.is_district_admin or old == new:
        return None
    if name == "password_min_length" and new < old:
        return WEAKER_PASSWORDS
    if name == "password_policy" and _PASSWORD_STRENGTH[new] < _PASSWORD_STRENGTH[old]:
        return WEAKER_PASSWORDS
    if name == "two_factor_from_level":
        return _two_factor_refusal(facts.level, old, new)
    return None


def _two_factor_refusal(own_level: int, old: int | None, new: int | None) -> str | None:
    """Levels 0..threshold are asked; levels that stop being asked must be below one's own."""
    old = _NOBODY if old is None else old
    new = _NOBODY if new is None else new
    no_longer_asked = [Level(level) for level in range(new + 1, old + 1) if level <= own_level]
    if not no_longer_asked:
        return None
    levels = " and ".join(f"{level.label} ({level})" for level in no_longer_asked)
    return TWO_FACTOR_DROPPED_ABOVE.format(levels=levels)


# --- what an operator holds --------------------------------------------------------------


def _facts(operator) -> _Facts | None:
    if operator is None or not operator.is_authenticated or not operator.is_active:
        return None
    # getattr/setattr, not __dict__: request.user is a lazy wrapper that forwards them.
    cached = getattr(operator, _CACHE_ATTR, None)
    if cached is None:
        cached = _load_facts(operator)
        setattr(operator, _CACHE_ATTR, cached)
    return cached


def _load_facts(operator) -> _Facts:
    group = operator.security_group
    if group.level >= Level.PATRON:
        return _Facts(level=group.level, permissions=frozenset(), scope_site_ids=frozenset())
    permissions, grantable = group_permissions(group)
    site_parents = dict(Site.objects.values_list("pk", "parent_id"))
    tree = _children_of(site_parents)
    access = operator.site_access.values_list("pk", flat=True)
    return _Facts(
        site_parents=site_parents,
        level=group.level,
        permissions=permissions,
        scope_site_ids=descendants(tree, access),
        grantable=grantable,
        grant_site_ids={
            perm: descendants(tree, site_ids) for perm, site_ids in _grants(operator).items()
        },
    )


def group_permissions(group: SecurityGroup) -> tuple[frozenset[str], frozenset[str]]:
    """What a group holds: its own permissions and those of its ancestors (it inherits its
    parent's, transitively) as "app.codename", and those of them marked grantable in the
    group or an ancestor. One query, whatever the depth of the tree."""
    if group.pk is None:
        return frozenset(), frozenset()
    ancestry = RawSQL(_ANCESTRY_SQL, [group.pk])  # noqa: S611 (constant SQL, bound parameter)
    owned = SecurityGroup.permissions.through.objects.filter(
        securitygroup_id__in=ancestry, permission=OuterRef("pk")
    )
    marked = SecurityGroup.grantable_permissions.through.objects.filter(
        securitygroup_id__in=ancestry, permission=OuterRef("pk")
    )
    rows = (
        Permission.objects.filter(Exists(owned))
        .annotate(grantable=Exists(marked))
        .values_list("content_type__app_label", "codename", "grantable")
    )
    permissions, grantable = set(), set()
    for app, codename, is_grantable in rows:
        permissions.add(f"{app}.{codename}")
        if is_grantable:
            grantable.add(f"{app}.{codename}")
    return frozenset(permissions), frozenset(grantable)


# The ids of a group and of its ancestors. UNION (not UNION ALL) stops at a cycle, should
# one ever be saved behind the model's back.
_ANCESTRY_SQL = """
    WITH RECURSIVE ancestry(id) AS (
        SELECT id FROM security_securitygroup WHERE id = %s
        UNION
        SELECT parent.parent_id FROM security_securitygroup parent
        JOIN ancestry ON parent.id = ancestry.id
        WHERE parent.parent_id IS NOT NULL
    )
    SELECT id FROM ancestry
"""


def _grants(operator) -> dict[str, set[int]]:
    rows = Grant.objects.filter(operator=operator).values_list(
        "permission__content_type__app_label", "permission__codename", "site_id"
    )
    grants: dict[str, set[int]] = {}
    for app, codename, site_id in rows:
        grants.setdefault(f"{app}.{codename}", set()).add(site_id)
    return grants


def site_tree() -> dict[int | None, list[int]]:
    """parent id -> child ids, for every site (sites number in the hundreds at most)."""
    return _children_of(dict(Site.objects.values_list("pk", "parent_id")))


def _children_of(site_parents: dict[int, int | None]) -> dict[int | None, list[int]]:
    tree: dict[int | None, list[int]] = {}
    for pk, parent_id in site_parents.items():
        tree.setdefault(parent_id, []).append(pk)
    return tree


def descendants(tree: dict[int | None, list[int]], site_ids) -> frozenset[int]:
    """The given sites and everything below them."""
    found: set[int] = set()
    stack = list(site_ids)
    while stack:
        pk = stack.pop()
        if pk not in found:
            found.add(pk)
            stack.extend(tree.get(pk, ()))
    return frozenset(found)


def _all_permission_names() -> list[str]:
    return [
        f"{app}.{codename}"
        for app, codename in Permission.objects.values_list("content_type__app_label", "codename")
    ]


def _as_queryset(model_or_queryset) -> QuerySet:
    if isinstance(model_or_queryset, QuerySet):
        return model_or_queryset
    return model_or_queryset._default_manager.all()
