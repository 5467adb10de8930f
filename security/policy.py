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
   the operator's site scope; nobody changes their own group. A staff group (below level
   5) is given only by holders of security.assign_securitygroup, in their group or
   delegated on that group (Evergreen's group application permissions); Patron groups by
   anyone who edits the Access tab.
5. Site scope: access to a site covers its descendants; outside scope is "not found". A
   patron's notes, blocks, statistics and fees have an owner site: they are seen and changed
   with the patron's rule and only within the operator's scope of that owner site.
7. Explicit grants (security.models.Grant) give one permission at one site and its
   descendants, or limit a permission the operator's group gives them to one site and its
   descendants; who may give and take them back: `can_grant`, `can_revoke_grant`.
Delegations (django-guardian rows on one SecurityGroup) let an operator give that group or
change its permissions, within every rule above: `delegation_refusal`.
Two-factor sign-in: RESET_TWO_FACTOR (obj: a Patron) is for District Administrators only,
on another person within their scope; their own devices they renew themselves.
Rule 6 (data rules on save) lives in the patron model and services; its thresholds are
preferences, and who may weaken the sign-in rules is `preference_refusal`.

What an operator holds is computed once per operator object and cached on it, as Django's
ModelBackend does; call `forget(operator)` after changing their group, sites or grants.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field

from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Model, Q, QuerySet
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
# Purging patrons past their purge date crosses every site and cannot be undone: District
# Administrators only (the patrons themselves are then asked of patrons.delete_patron).
PURGE_PATRONS = "patrons.purge_patrons"
VIEW_GROUP = "security.view_securitygroup"
CHANGE_GROUP = "security.change_securitygroup"
# Giving staff groups: held in a group (every staff group one may give), or on one group
# through a delegation (security.models.GroupDelegation).
GIVE_STAFF_GROUPS = "security.assign_securitygroup"
DELEGABLE = (GIVE_STAFF_GROUPS, CHANGE_GROUP)
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
    # Narrowing grants: a permission of the group that applies only at these sites.
    limit_site_ids: dict[str, frozenset[int]] = field(default_factory=dict)
    # Delegations (django-guardian rows): GIVE_STAFF_GROUPS / CHANGE_GROUP -> group ids.
    delegated: dict[str, frozenset[int]] = field(default_factory=dict)

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
        if perm in self.limit_site_ids:
            from_group = from_group & self.limit_site_ids[perm]
        return from_group | self.grant_site_ids.get(perm, frozenset())

    def delegated_ids(self, perm: str) -> frozenset[int]:
        return self.delegated.get(perm, frozenset())

    def scope_owner_ids(self) -> frozenset[int] | None:
        """Owner sites of the groups whose every member the operator's access reaches (None:
        every group, the district's own included)."""
        if self.is_district_admin or self.scope_site_ids.issuperset(self.site_parents):
            return None
        return self.scope_site_ids

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
    if action == PURGE_PATRONS:
        return facts.is_district_admin and obj is None
    perm = DERIVED_ACTIONS.get(action, action)
    if obj is None:
        return facts.holds(perm) or _holds_through_delegation(facts, perm)
    rule = _OBJECT_RULES.get(type(obj)._meta.concrete_model)
    if rule is None:
        return facts.is_district_admin and facts.holds(perm)
    return rule(operator, facts, action, perm, obj)


def _holds_through_delegation(facts: _Facts, perm: str) -> bool:
    """A delegate of a group's permissions may open the group pages (for that group)."""
    changes = bool(facts.delegated_ids(CHANGE_GROUP))
    return changes and perm in (VIEW_GROUP, CHANGE_GROUP)


def holds(operator, perm: str) -> bool:
    """Held through the operator's own group or an explicit grant, at some site. A
    delegation, on one group only, never counts: it is what a delegate may put in that
    group's permissions (they give only what they hold themselves)."""
    facts = _facts(operator)
    return facts is not None and facts.level < Level.PATRON and facts.holds(perm)


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
    # Unordered: the lookup names one object, and sorting a row (Patron's default ordering)
    # costs more in the ORM than fetching it.
    obj = next(iter(visible.filter(**lookup).order_by()[:1]), None)
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
    delegated = {VIEW_GROUP, CHANGE_GROUP} if facts.delegated_ids(CHANGE_GROUP) else set()
    return facts.permissions | frozenset(facts.grant_site_ids) | delegated


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
    the owner of a new group is asked of `can_own_group`.

    Evergreen's group application permissions: a staff group (below level 5) is given only
    by holders of security.assign_securitygroup: through their group (every staff group
    they may give) or delegated on that one group (django-guardian's global and object
    permission of one name). The delegate of a group's permissions changes that group
    alone. A delegation never lifts the level, scope or protected-group rules."""
    if _delegated_change(facts, action, group):
        return True
    if not _own_group_rule(facts, action, perm, group):
        return False
    if action != ASSIGN_GROUP or group.level >= Level.PATRON or facts.holds(GIVE_STAFF_GROUPS):
        return True
    return group.pk in facts.delegated_ids(GIVE_STAFF_GROUPS)


def _own_group_rule(facts: _Facts, action, perm, group) -> bool:
    """What the operator's own group and grants allow on `group`, delegations aside."""
    if not facts.holds(perm):
        return False
    if action in _GROUP_READS:
        if not _reaches(facts.reachable_owner_ids(perm), group.owner_site_id):
            return False
        if action == VIEW_GROUP:
            return True
    elif group.pk is not None and not _covers(facts.owner_site_ids_for(perm), group.owner_site_id):
        return False
    if group.is_protected and action != ASSIGN_GROUP:
        return False  # rule 3: nobody changes or deletes the District Administrator group
    return facts.is_district_admin or group.level > facts.level


def _delegated_change(facts: _Facts, action, group) -> bool:
    """A delegate of this group's permissions sees and changes it: below their level, not
    the protected group, and only when their access covers every member's home site."""
    return (
        action in (VIEW_GROUP, CHANGE_GROUP)
        and group.pk in facts.delegated_ids(CHANGE_GROUP)
        and not group.is_protected
        and group.level > facts.level
        and _covers(facts.scope_owner_ids(), group.owner_site_id)
    )


def _group_scope(operator, facts: _Facts, action, perm, qs) -> QuerySet:
    own = _own_group_scope(facts, action, perm, qs)
    if action == ASSIGN_GROUP and not facts.holds(GIVE_STAFF_GROUPS):
        own = own.filter(
            Q(level__gte=Level.PATRON) | Q(pk__in=facts.delegated_ids(GIVE_STAFF_GROUPS))
        )
    if action not in (VIEW_GROUP, CHANGE_GROUP) or not facts.delegated_ids(CHANGE_GROUP):
        return own
    delegated = qs.filter(
        pk__in=facts.delegated_ids(CHANGE_GROUP), is_protected=False, level__gt=facts.level
    )
    owner_ids = facts.scope_owner_ids()
    if owner_ids is not None:
        delegated = delegated.filter(owner_site_id__in=owner_ids)
    return own | delegated


def _own_group_scope(facts: _Facts, action, perm, qs) -> QuerySet:
    if not facts.holds(perm):
        return qs.none()
    if action in _GROUP_READS:
        reach = facts.reachable_owner_ids(perm)
        if reach is not None:
            qs = qs.filter(Q(owner_site_id__in=reach) | Q(owner_site__isnull=True))
        if action == VIEW_GROUP:
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
_GROUP_READS = (VIEW_GROUP, ASSIGN_GROUP, INHERIT_FROM_GROUP)


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
LIMIT_BEYOND_ACCESS = (
    "{name}'s site access reaches beyond the sites where you may grant: only an administrator "
    "of all their sites limits what their group gives them."
)
NOTHING_TO_LIMIT = "{name}'s security group does not give them this permission: nothing to limit."


def can_grant(operator, permission_name: str, site: Site, recipient, kind=Grant.Kind.ADDS) -> bool:
    return _grant_refusal(operator, permission_name, site, recipient, kind) is None


def require_grant(operator, permission_name: str, site: Site, recipient, kind=Grant.Kind.ADDS):
    refusal = _grant_refusal(operator, permission_name, site, recipient, kind)
    if refusal is not None:
        raise PermissionDenied(refusal)


def can_revoke_grant(operator, grant: Grant) -> bool:
    """Taking back a limit gives the recipient's group permission back wherever their
    access reaches: only for granters whose grant sites cover all of it."""
    facts = _facts(operator)
    if grant.kind == Grant.Kind.LIMITS and not _covers_access_of(facts, grant.operator):
        return False
    return _may_grant_at(facts, grant.site_id) and (
        _recipient_refusal(operator, facts, grant.operator, revoking=True) is None
    )


def _covers_access_of(facts: _Facts | None, recipient) -> bool:
    """Whether the granter may grant at every site of the recipient's access (a limit
    changes what they do at all of them)."""
    site_ids = _grant_site_ids(facts)
    if site_ids is None:
        return True
    theirs = _facts(recipient)
    return theirs is not None and site_ids.issuperset(theirs.scope_site_ids)


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


def _grant_refusal(operator, permission_name: str, site: Site, recipient, kind) -> str | None:
    """A grant that adds a site gives power: the permission must be one the granter's group
    may pass on. One that limits a permission to a site takes power away, which (like a
    revocation) never needs that; but it must limit a permission the recipient's group
    gives them, or it would say something untrue."""
    facts = _facts(operator)
    if facts is None or facts.level >= Level.PATRON or not facts.holds(GRANT_PERMISSION):
        return DENIED
    if not _may_grant_at(facts, site.pk):
        return GRANT_SITE_OUT_OF_ACCESS
    limits = kind == Grant.Kind.LIMITS
    if not (limits or facts.is_district_admin or permission_name in facts.grantable):
        return GRANT_NOT_GRANTABLE
    refusal = _recipient_refusal(operator, facts, recipient, revoking=False)
    if refusal is None and limits:
        theirs = _facts(recipient)
        if theirs is None or permission_name not in theirs.permissions:
            return NOTHING_TO_LIMIT.format(name=recipient.display_name)
        if not _covers_access_of(facts, recipient):
            return LIMIT_BEYOND_ACCESS.format(name=recipient.display_name)
    return refusal


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


# --- delegations (django-guardian rows on one group) --------------------------------------
# Who may change a group (their own group's rights, not a delegation) may delegate, to one
# operator strictly below them, giving that group (GIVE_STAFF_GROUPS) or changing its
# permissions (CHANGE_GROUP); the delegate uses it within every rule above. Delegating
# onward needs the right to change the group oneself. Taking one back asks the same of
# whoever takes it back, except that the delegate may since have become a patron.

DELEGATE_TO_SELF = "You cannot delegate to yourself."
DELEGATE_GROUP_NOT_BELOW = (
    "{name} could never use it: a group is given or changed only below one's own level."
)
DELEGATE_SCOPE_TOO_SMALL = (
    "{name}'s site access does not cover every member of this group: they could not change it."
)
DELEGATE_NO_ACCESS_TAB = (
    "{name} cannot edit the Access tab, where groups are given: the delegation would do nothing."
)
EDIT_ACCESS = "patrons.edit_access"


def delegation_refusal(operator, group: SecurityGroup, perm: str, recipient) -> str | None:
    """Why `operator` may not delegate `perm` on `group` to `recipient` (None: they may).
    DENIED for a recipient outside the delegator's access: callers say "not found"."""
    facts = _facts(operator)
    if facts is None or facts.level >= Level.PATRON or perm not in DELEGABLE:
        return DENIED
    if not _own_group_rule(facts, CHANGE_GROUP, CHANGE_GROUP, group):
        return DENIED
    if recipient.pk == operator.pk:
        return DELEGATE_TO_SELF
    refusal = _delegate_refusal(facts, recipient)
    if refusal is not None:
        return refusal
    return _unusable_refusal(group, perm, recipient)


def _delegate_refusal(facts: _Facts, recipient) -> str | None:
    """An operator strictly below the delegator, whose home site lies within their access."""
    scope = None if facts.is_district_admin else facts.scope_site_ids
    if scope is not None and recipient.home_site_id not in scope:
        return DENIED
    level = recipient.security_group.level
    if level >= Level.PATRON:
        return GRANTEE_NOT_OPERATOR
    if level <= facts.level:
        return GRANTEE_NOT_BELOW
    return None


def _unusable_refusal(group: SecurityGroup, perm: str, recipient) -> str | None:
    """A delegation the recipient could never use is refused rather than kept."""
    name = recipient.display_name
    if group.is_protected or group.level <= recipient.security_group.level:
        return DELEGATE_GROUP_NOT_BELOW.format(name=name)
    theirs = _facts(recipient)
    if theirs is None:
        return GRANTEE_NOT_OPERATOR
    if perm == CHANGE_GROUP and not _covers(theirs.scope_owner_ids(), group.owner_site_id):
        return DELEGATE_SCOPE_TOO_SMALL.format(name=name)
    if perm == GIVE_STAFF_GROUPS and not theirs.holds(EDIT_ACCESS):
        return DELEGATE_NO_ACCESS_TAB.format(name=name)
    return None


def can_delegate(operator, group: SecurityGroup, perm: str, recipient) -> bool:
    return delegation_refusal(operator, group, perm, recipient) is None


def may_manage_delegations(operator, group: SecurityGroup) -> bool:
    """Whether the operator sees and takes back a group's delegations: those who may change
    the group themselves."""
    facts = _facts(operator)
    if facts is None or facts.level >= Level.PATRON:
        return False
    return _own_group_rule(facts, CHANGE_GROUP, CHANGE_GROUP, group)


def can_revoke_delegation(operator, group: SecurityGroup, recipient) -> bool:
    """Those who may change the group take back what was delegated to someone below them."""
    if not may_manage_delegations(operator, group):
        return False
    facts = _facts(operator)
    return facts.is_district_admin or recipient.security_group.level > facts.level


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
    """One statement for everything the policy asks about an operator: it runs on every
    staff request, where four ORM queries cost more in Python than in PostgreSQL."""
    group = operator.security_group
    if group.level >= Level.PATRON:
        return _Facts(level=group.level, permissions=frozenset(), scope_site_ids=frozenset())
    with connection.cursor() as cursor:
        cursor.execute(_FACTS_SQL, {"group": group.pk, "operator": operator.pk})
        held, sites, access, grant_rows = cursor.fetchone()
    permissions, grantable = _held(json.loads(held))
    site_parents = dict(json.loads(sites))
    tree = _children_of(site_parents)
    adds, limits, delegated = _grants(json.loads(grant_rows))
    return _Facts(
        site_parents=site_parents,
        level=group.level,
        permissions=permissions,
        scope_site_ids=descendants(tree, access),
        grantable=grantable,
        grant_site_ids={perm: descendants(tree, site_ids) for perm, site_ids in adds.items()},
        limit_site_ids={perm: descendants(tree, site_ids) for perm, site_ids in limits.items()},
        delegated=delegated,
    )


def group_permissions(group: SecurityGroup) -> tuple[frozenset[str], frozenset[str]]:
    """What a group holds: its own permissions and those of its ancestors (it inherits its
    parent's, transitively) as "app.codename", and those of them marked grantable in the
    group or an ancestor. One query, whatever the depth of the tree."""
    if group.pk is None:
        return frozenset(), frozenset()
    with connection.cursor() as cursor:
        cursor.execute(_GROUP_SQL, {"group": group.pk})
        return _held(cursor.fetchall())


def _held(rows) -> tuple[frozenset[str], frozenset[str]]:
    permissions = frozenset(name for name, _ in rows)
    return permissions, frozenset(name for name, is_grantable in rows if is_grantable)


# What the group %(group)s holds (`held`: "app.codename", grantable): the permissions of the
# group and of its ancestors. UNION (not UNION ALL) stops at a cycle in the ancestry, should
# one ever be saved behind the model's back.
_HELD_SQL = """
    WITH RECURSIVE ancestry(id) AS (
        SELECT id FROM security_securitygroup WHERE id = %(group)s
        UNION
        SELECT parent.parent_id FROM security_securitygroup parent
        JOIN ancestry ON parent.id = ancestry.id
        WHERE parent.parent_id IS NOT NULL
    ),
    held AS (
        SELECT type.app_label || '.' || perm.codename AS name,
               EXISTS (
                   SELECT 1 FROM security_securitygroup_grantable_permissions marked
                   WHERE marked.permission_id = perm.id
                     AND marked.securitygroup_id IN (SELECT id FROM ancestry)
               ) AS grantable
        FROM auth_permission perm
        JOIN django_content_type type ON type.id = perm.content_type_id
        WHERE EXISTS (
            SELECT 1 FROM security_securitygroup_permissions owned
            WHERE owned.permission_id = perm.id
              AND owned.securitygroup_id IN (SELECT id FROM ancestry)
        )
    )
"""

# The operator's facts in one row: what their group holds, every site with its parent, the
# sites of their access, and their grants and delegations (django-guardian's rows for
# SecurityGroup, a direct foreign key) as (permission, site or group id, kind).
_GROUP_SQL = _HELD_SQL + "SELECT name, grantable FROM held"  # noqa: S608 (constants)

_FACTS_SELECT = """
    SELECT
        (SELECT coalesce(json_agg(json_build_array(name, grantable)), '[]') FROM held)::text,
        (SELECT coalesce(json_agg(json_build_array(id, parent_id)), '[]') FROM sites_site)::text,
        ARRAY(
            SELECT site_id FROM patrons_patron_site_access WHERE patron_id = %(operator)s
        ),
        (SELECT coalesce(json_agg(json_build_array(name, target, kind)), '[]') FROM (
            SELECT type.app_label || '.' || perm.codename AS name, grant_row.site_id AS target,
                   grant_row.kind AS kind
            FROM security_grant grant_row
            JOIN auth_permission perm ON perm.id = grant_row.permission_id
            JOIN django_content_type type ON type.id = perm.content_type_id
            WHERE grant_row.operator_id = %(operator)s
            UNION ALL
            SELECT type.app_label || '.' || perm.codename, delegation.content_object_id,
                   'delegated'
            FROM security_groupdelegation delegation
            JOIN auth_permission perm ON perm.id = delegation.permission_id
            JOIN django_content_type type ON type.id = perm.content_type_id
            WHERE delegation.user_id = %(operator)s
        ) grants)::text
"""
_FACTS_SQL = _HELD_SQL + _FACTS_SELECT  # noqa: S608 (constants; values are bound parameters)


def _grants(rows) -> tuple[dict[str, set[int]], dict[str, set[int]], dict[str, frozenset[int]]]:
    """The operator's grants that add sites, those that limit their group's permissions to
    sites (permission -> sites), and the groups delegated to them (permission -> group ids),
    from the rows of _FACTS_SQL."""
    found = {Grant.Kind.ADDS: {}, Grant.Kind.LIMITS: {}, _DELEGATED: {}}
    for perm, target_id, kind in rows:
        found[kind].setdefault(perm, set()).add(target_id)
    delegated = {perm: frozenset(ids) for perm, ids in found[_DELEGATED].items()}
    return found[Grant.Kind.ADDS], found[Grant.Kind.LIMITS], delegated


_DELEGATED = "delegated"  # the third kind of row `_grants` reads


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
