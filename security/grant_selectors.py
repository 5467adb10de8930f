"""Reads for the explicit grants pages (/staff/security/grants/). Every list starts from
the policy's grant section (security.policy.grant_scope, grant_sites...)."""

from dataclasses import dataclass

import pghistory.models
from django.apps import apps
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower

from security import policy
from security.models import Grant

# Apps whose permissions mean something in LibStaff; the rest (sessions, admin log
# entries...) are never worth an explicit grant.
GRANT_APPS = ("patrons", "fines", "security", "sites")


@dataclass(frozen=True)
class GrantRow:
    grant: Grant
    can_revoke: bool
    can_view_operator: bool


def grant_list(*, operator) -> QuerySet:
    """The grants the operator may see, by operator name, then site and permission."""
    return (
        policy.grant_scope(operator)
        .select_related(
            "operator__security_group",
            "operator__home_site",
            "permission__content_type",
            "site",
            "granted_by",
        )
        .order_by("operator__last_name", "operator__first_name", "operator_id", "site__code", "pk")
    )


def grant_rows(*, operator, grants) -> list[GrantRow]:
    """Each grant with what the operator may do with it (answered in memory)."""
    return [
        GrantRow(
            grant=grant,
            can_revoke=policy.can_revoke_grant(operator, grant),
            can_view_operator=policy.can(operator, "patrons.view_patron", grant.operator),
        )
        for grant in grants
    ]


def grant_get(*, operator, pk: int) -> Grant | None:
    """A grant the operator may see, or None (missing and hidden look the same)."""
    return grant_list(operator=operator).filter(pk=pk).first()


def grant_permission_choices(*, operator) -> list[tuple[str, list[tuple[int, str]]]]:
    """The permissions the operator may give, grouped by app for a <select>."""
    permissions = (
        policy.grantable_permissions(operator)
        .filter(content_type__app_label__in=GRANT_APPS)
        .select_related("content_type")
        .order_by("content_type__app_label", "name")
    )
    groups: dict[str, list[tuple[int, str]]] = {}
    for permission in permissions:
        model = permission.content_type.model_class()
        if model is None or issubclass(model, pghistory.models.Event):
            continue  # history rows are written by triggers, never by a grantee
        app = apps.get_app_config(permission.content_type.app_label).verbose_name
        groups.setdefault(app, []).append((permission.pk, permission.name))
    return list(groups.items())


def grant_site_choices(*, operator) -> QuerySet:
    return policy.grant_sites(operator).order_by("code")


def grant_recipient_find(*, operator, text: str):
    """The patron with this username (any case) or barcode, among those whose home site is
    within the operator's reach; None otherwise, whether or not they exist elsewhere."""
    from patrons.models import Patron

    text = text.strip()
    if not text:
        return None
    found = list(
        policy.grant_recipient_scope(operator, Patron.objects.select_related("security_group"))
        .alias(username_lower=Lower("username"))
        .filter(Q(username_lower=text.lower()) | Q(barcode=text))[:2]
    )
    # One patron's username may be another's barcode: the username wins.
    found.sort(key=lambda patron: (patron.username or "").lower() != text.lower())
    return found[0] if found else None
