"""Reads for the security group pages, always through the policy."""

from dataclasses import dataclass

from django.db.models import QuerySet

from libstaff.queries import count_per_row
from security import policy
from security.models import SecurityGroup, ancestor_chain


@dataclass(frozen=True)
class GroupRow:
    group: SecurityGroup
    member_count: int
    can_change: bool
    can_delete: bool


@dataclass(frozen=True)
class Inheritance:
    """What a group inherits: permission name -> the nearest ancestor that has it (and that
    marks it grantable)."""

    permissions: dict[str, SecurityGroup]
    grantable: dict[str, SecurityGroup]


def group_list(*, operator) -> list[GroupRow]:
    """Every group the operator may see, with its number of members: one query."""
    groups = (
        policy.scope(operator, "security.view_securitygroup", SecurityGroup)
        .select_related("parent", "owner_site")
        .annotate(member_count=_member_count())
    )
    return [
        GroupRow(
            group=group,
            member_count=group.member_count,
            can_change=policy.can(operator, "security.change_securitygroup", group),
            can_delete=policy.can(operator, "security.delete_securitygroup", group),
        )
        for group in groups
    ]


def _member_count():
    from patrons.models import Patron

    return count_per_row(Patron.objects.all(), "security_group")


def group_member_count(group: SecurityGroup) -> int:
    return group.members.count()


def group_inheritance(parent: SecurityGroup | None) -> Inheritance:
    """What a group whose parent is `parent` inherits, and from which ancestor (two
    queries: the groups, then their permissions)."""
    if parent is None:
        return Inheritance({}, {})
    groups = SecurityGroup.objects.in_bulk()
    parents = {pk: group.parent_id for pk, group in groups.items()}
    chain = [groups[pk] for pk in ancestor_chain(parents, parent.pk)]
    permissions, grantable = {}, {}
    rows = _permission_rows(chain)
    for group in chain:  # nearest first: the first ancestor found is named
        for name in rows["own"].get(group.pk, ()):
            permissions.setdefault(name, group)
        for name in rows["marks"].get(group.pk, ()):
            grantable.setdefault(name, group)
    grantable = {name: group for name, group in grantable.items() if name in permissions}
    return Inheritance(permissions, grantable)


def _permission_rows(chain: list[SecurityGroup]) -> dict[str, dict[int, set[str]]]:
    ids = [group.pk for group in chain]
    found: dict[str, dict[int, set[str]]] = {"own": {}, "marks": {}}
    for key, through in [
        ("own", SecurityGroup.permissions.through),
        ("marks", SecurityGroup.grantable_permissions.through),
    ]:
        rows = through.objects.filter(securitygroup_id__in=ids).values_list(
            "securitygroup_id", "permission__content_type__app_label", "permission__codename"
        )
        for group_id, app_label, codename in rows:
            found[key].setdefault(group_id, set()).add(f"{app_label}.{codename}")
    return found


def group_own_permissions(group: SecurityGroup | None) -> tuple[list, list]:
    """The group's own permissions and grantable marks, as Permission rows."""
    if group is None or group.pk is None:
        return [], []
    return (
        list(group.permissions.select_related("content_type")),
        list(group.grantable_permissions.select_related("content_type")),
    )


def parent_choices(*, operator, group: SecurityGroup | None) -> QuerySet:
    """Groups that `group` (None: a new group) may inherit from (policy.INHERIT_FROM_GROUP),
    never the group itself or one that inherits from it. The current parent stays offered.
    The level rule (a parent never has more power) is the model's to check."""
    choices = policy.scope(operator, policy.INHERIT_FROM_GROUP, SecurityGroup)
    if group is None or group.pk is None:
        return choices.order_by("level", "name")
    if group.parent_id is not None:
        choices = choices | SecurityGroup.objects.filter(pk=group.parent_id)
    excluded = [group.pk, *(descendant.pk for descendant in descendant_groups(group))]
    return choices.exclude(pk__in=excluded).order_by("level", "name")


def descendant_groups(group: SecurityGroup) -> list[SecurityGroup]:
    """The groups that inherit from `group`, directly or not (one query)."""
    groups = SecurityGroup.objects.in_bulk()
    children: dict[int | None, list[int]] = {}
    for other in groups.values():
        children.setdefault(other.parent_id, []).append(other.pk)
    found, stack = set(), list(children.get(group.pk, ()))
    while stack:
        current = stack.pop()
        if current not in found and current != group.pk:
            found.add(current)
            stack.extend(children.get(current, ()))
    return sorted((groups[pk] for pk in found), key=lambda g: (g.level, g.name))


def assignable_groups(*, operator, exclude: SecurityGroup) -> QuerySet:
    """Groups the members of `exclude` can move to when it is deleted."""
    return (
        policy.scope(operator, policy.ASSIGN_GROUP, SecurityGroup)
        .exclude(pk=exclude.pk)
        .order_by("level", "name")
    )


def groups_split_by_move(site, new_parent) -> list[SecurityGroup]:
    """Groups owned by a site that a move of `site` under `new_parent` would leave some of
    their members outside (members at `site` or its branches): the move is refused, or
    whoever changes such a group would reach people outside their scope."""
    from patrons.models import Patron

    tree = policy.site_tree()
    moved = policy.descendants(tree, [site.pk])
    still_above = set(new_parent.ancestor_ids(include_self=True)) if new_parent else set()
    owners = Patron.objects.filter(
        home_site_id__in=moved, security_group__owner_site__isnull=False
    ).exclude(security_group__owner_site_id__in=moved | still_above)
    return list(
        SecurityGroup.objects.filter(pk__in=owners.values("security_group_id")).order_by("name")
    )
