"""Reads for the explicit grants pages (/staff/security/grants/). Every list starts from
the policy's grant section (security.policy.grant_scope, grant_sites...)."""

from dataclasses import dataclass

import pghistory.models
from django.apps import apps
from django.db.models import Exists, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Lower

from security import policy
from security.models import Grant
from security.permission_areas import LABELS, permission_name, permissions_named
from sites.models import Site

# Apps whose permissions mean something in LibStaff; the rest (sessions, admin log
# entries...) are never worth an explicit grant.
GRANT_APPS = ("patrons", "fines", "security", "sites")


LIMIT_ONLY = "{label} (to limit only)"


@dataclass(frozen=True)
class GrantRow:
    grant: Grant
    can_revoke: bool
    can_view_operator: bool
    sentence: str


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
        .annotate(site_has_branches=Exists(Site.objects.filter(parent=OuterRef("site_id"))))
        .order_by("operator__last_name", "operator__first_name", "operator_id", "site__code", "pk")
    )


def grant_rows(*, operator, grants) -> list[GrantRow]:
    """Each grant with what the operator may do with it (answered in memory)."""
    return [
        GrantRow(
            grant=grant,
            can_revoke=policy.can_revoke_grant(operator, grant),
            can_view_operator=policy.can(operator, "patrons.view_patron", grant.operator),
            sentence=grant_sentence(grant),
        )
        for grant in grants
    ]


def grant_get(*, operator, pk: int) -> Grant | None:
    """A grant the operator may see, or None (missing and hidden look the same)."""
    return grant_list(operator=operator).filter(pk=pk).first()


def grant_sentence(grant: Grant) -> str:
    """The grant in a librarian's words: "Zoë Ng may also find and view patrons at Adams
    Middle School (and its branches)" when it adds the site, "Zoë Ng may find and view
    patrons only at Adams Middle School (and its branches)" when it limits what their group
    gives them. Branches are mentioned when the site has some: grant_list annotates
    `site_has_branches`; without it, one query asks."""
    has_branches = getattr(grant, "site_has_branches", None)
    if has_branches is None:
        has_branches = grant.site.children.exists()
    where = f"{grant.site.name} (and its branches)" if has_branches else grant.site.name
    name, doing = grant.operator.display_name, permission_phrase(grant.permission)
    if grant.kind == Grant.Kind.LIMITS:
        return f"{name} may {doing} only at {where}"
    return f"{name} may also {doing} at {where}"


def permission_phrase(permission) -> str:
    """What a permission lets one do, to follow "may": "find and view patrons", "edit the
    Access tab". The labels of security.permission_areas, else Django's name ("Can change
    session" -> "change session")."""
    label = LABELS.get(permission_name(permission))
    if label is None:
        label = permission.name.removeprefix("Can ")
    label = label.split(":", 1)[0]  # "Edit the Access tab: group, password, site access"
    return label[:1].lower() + label[1:]


@dataclass(frozen=True)
class PermissionChoices:
    groups: list[tuple[str, list[tuple[int, str]]]]  # by app, for a <select>
    addable_ids: frozenset[int]  # of those, the ones the granter's group may pass on


def grant_permission_choices(*, operator) -> PermissionChoices:
    """The permissions the operator may give, grouped by app: those their group may pass
    on, and (marked "to limit only") the others they hold, for a grant that limits a
    permission the recipient's group gives them: that takes power away, so it needs no
    grantable mark. One query."""
    grantable = policy.grantable_permissions(operator)
    if grantable.query.is_empty():
        return PermissionChoices(groups=[], addable_ids=frozenset())
    permissions = grantable.annotate(is_grantable=Value(True))
    if grantable.query.has_filters():  # not everything (a District Administrator's)
        held = permissions_named(policy.permissions_of(operator))
        permissions = (grantable | held).annotate(
            is_grantable=Exists(grantable.filter(pk=OuterRef("pk")))
        )
    permissions = (
        permissions.filter(content_type__app_label__in=GRANT_APPS)
        .select_related("content_type")
        .order_by("content_type__app_label", "name")
    )
    groups: dict[str, list[tuple[int, str]]] = {}
    addable = set()
    for permission in permissions:
        model = permission.content_type.model_class()
        if model is None or issubclass(model, pghistory.models.Event):
            continue  # history rows are written by triggers, never by a grantee
        app = apps.get_app_config(permission.content_type.app_label).verbose_name
        label = permission.name
        if permission.is_grantable:
            addable.add(permission.pk)
        else:
            label = LIMIT_ONLY.format(label=label)
        groups.setdefault(app, []).append((permission.pk, label))
    return PermissionChoices(groups=list(groups.items()), addable_ids=frozenset(addable))


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
