"""Reads for group delegations (django-guardian rows on one security group): the group
page's "Delegated to" section and the Access tab's list. Who may see and take them back
is security.policy's delegation section."""

from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.db.models.functions import Lower

from security import policy
from security.models import GroupDelegation, SecurityGroup
from security.permission_areas import permission_name

RIGHT_LABELS = {
    policy.GIVE_STAFF_GROUPS: "May give this group to patrons",
    policy.CHANGE_GROUP: "May change this group's permissions",
}


@dataclass(frozen=True)
class DelegationRow:
    delegation: GroupDelegation
    right: str
    can_revoke: bool


def right_label(delegation: GroupDelegation) -> str:
    name = permission_name(delegation.permission)
    return RIGHT_LABELS.get(name, delegation.permission.name)


def _delegations() -> QuerySet:
    return GroupDelegation.objects.select_related(
        "user__security_group",
        "delegated_by",
        "permission__content_type",
        "content_object",
    ).order_by("content_object__level", "content_object__name", "user__last_name", "pk")


def group_delegation_rows(*, operator, group: SecurityGroup) -> list[DelegationRow]:
    """A group's delegations, for those who manage them (policy.may_manage_delegations);
    nobody else sees them on the group page."""
    if not policy.may_manage_delegations(operator, group):
        return []
    return [
        DelegationRow(
            delegation=delegation,
            right=right_label(delegation),
            can_revoke=policy.can_revoke_delegation(operator, group, delegation.user),
        )
        for delegation in _delegations().filter(content_object=group)
    ]


def group_delegation_get(*, operator, group: SecurityGroup, pk: int) -> GroupDelegation | None:
    """One of the group's delegations, for one who manages them; None otherwise (missing
    and hidden look the same)."""
    if not policy.may_manage_delegations(operator, group):
        return None
    return _delegations().filter(content_object=group, pk=pk).first()


def patron_delegations(patron) -> list[GroupDelegation]:
    """What was delegated to this patron as an operator (given and taken back on the group
    pages; reviewed on the Access tab when their group changes)."""
    return list(_delegations().filter(user=patron))


def patron_delegation_ids(patron, *, among: set[int]) -> set[int]:
    """Which of the delegations `among` the patron still holds."""
    held = GroupDelegation.objects.filter(user=patron, pk__in=among)
    return set(held.values_list("pk", flat=True))


def delegate_find(*, operator, text: str):
    """The patron with this username (any case) or barcode whose home site lies within the
    delegator's access; None otherwise, whether or not they exist elsewhere."""
    from patrons.models import Patron

    text = text.strip()
    if not text:
        return None
    patrons = Patron.objects.select_related("security_group")
    site_ids = policy.site_scope_ids(operator)
    if site_ids is not None:
        patrons = patrons.filter(home_site_id__in=site_ids)
    found = list(
        patrons.alias(username_lower=Lower("username")).filter(
            Q(username_lower=text.lower()) | Q(barcode=text)
        )[:2]
    )
    # One patron's username may be another's barcode: the username wins.
    found.sort(key=lambda patron: (patron.username or "").lower() != text.lower())
    return found[0] if found else None
