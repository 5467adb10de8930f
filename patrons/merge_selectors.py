"""Reads of the merge page: finding the two records (only within the operator's scope),
and the preview of what a merge would do: the fields that differ, what moves (counted per
kind, duplicates that are dropped), the money that moves (a credit on a line of its own)
and why the merge would be refused. A constant number of queries, whatever the number of
rows (no query per row).
"""

from dataclasses import dataclass, field

from django.db.models import Count, Exists, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from patrons import merging
from patrons.models import Patron, PatronEmail, PatronStatistic, ProxyLink
from patrons.services.merge import (
    MERGE_ACTION,
    MERGE_FIELDS,
    MERGE_LAST_DISTRICT_ADMIN,
    MERGE_OWN_RECORD,
    MERGE_PROTECTED,
    MERGE_SAME_RECORD,
)
from patrons.services.patron import is_last_district_admin
from security import log, policy

VIEW = "patrons.view_patron"
NOT_FOUND = "No patron found with the barcode or id {query}."
NOT_YOURS_TO_MERGE = (
    "You cannot merge {name}'s record: their security group or home site is beyond what you "
    "may change."
)
# What moves, in the order shown: (label, related name on Patron).
MOVING_KINDS = (
    ("Notes", "notes"),
    ("Identifiers", "identifiers"),
    ("Blocks", "blocks"),
    ("Statistical categories", "statistics"),
    ("Program measures", "program_measures"),
    ("Attachments", "attachments"),
    ("Emails", "emails"),
    ("Addresses", "addresses"),
    ("Phones", "phones"),
    ("Contacts (guardians)", "guardians"),
)


@dataclass(frozen=True)
class FieldDifference:
    name: str
    label: str
    survivor: str
    merged: str


@dataclass(frozen=True)
class Moving:
    label: str
    count: int
    dropped: int = 0  # duplicates of rows the survivor has already


@dataclass
class MergePreview:
    survivor: Patron
    merged: Patron
    differences: list[FieldDifference] = field(default_factory=list)
    moving: list[Moving] = field(default_factory=list)
    money: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return not self.refusals


def merge_candidate(*, operator, query: str) -> Patron | None:
    """The patron with this barcode, else this id, among those the operator may see; None
    when there is none (missing and out of scope look the same)."""
    query = (query or "").strip()
    if not query:
        return None
    by_barcode = _visible(operator).filter(barcode=query).first()
    if by_barcode is not None or not query.isdigit() or len(query) > 18:
        return by_barcode
    return merge_patron_get(operator=operator, pk=int(query))


def merge_patron_get(*, operator, pk: int) -> Patron | None:
    return _visible(operator).filter(pk=pk).first()


def _visible(operator):
    patrons = Patron.objects.select_related("security_group", "home_site", "patron_type")
    return policy.scope(operator, VIEW, patrons)


def merge_preview(*, operator, survivor: Patron, merged: Patron) -> MergePreview:
    preview = MergePreview(survivor=survivor, merged=merged)
    preview.refusals = merge_refusals(operator=operator, survivor=survivor, merged=merged)
    if survivor.pk == merged.pk:
        return preview
    preview.differences = field_differences(survivor, merged)
    preview.moving = _moving(survivor, merged)
    preview.money = merging.preview_lines(merged)
    return preview


def merge_refusals(*, operator, survivor: Patron, merged: Patron) -> list[str]:
    """Why the service would refuse (it asks again, under locks)."""
    if survivor.pk == merged.pk:
        return [MERGE_SAME_RECORD]
    found = []
    if merged.pk == operator.pk:
        found.append(MERGE_OWN_RECORD)
    for patron in (survivor, merged):
        own_merged_away = patron is merged and patron.pk == operator.pk  # said above
        if not own_merged_away and not policy.can(operator, MERGE_ACTION, patron):
            found.append(NOT_YOURS_TO_MERGE.format(name=patron.display_name))
    if merged.is_protected:
        found.append(MERGE_PROTECTED.format(name=merged.display_name))
    if is_last_district_admin(merged):
        found.append(MERGE_LAST_DISTRICT_ADMIN.format(name=merged.display_name))
    return found


def field_differences(survivor: Patron, merged: Patron) -> list[FieldDifference]:
    found = []
    for name in MERGE_FIELDS:
        model_field = Patron._meta.get_field(name)
        ours = getattr(survivor, model_field.attname)
        theirs = getattr(merged, model_field.attname)
        if _comparable(ours) == _comparable(theirs):
            continue
        found.append(
            FieldDifference(
                name=name,
                label=log.field_label(Patron, name),
                survivor=_shown(survivor, name),
                merged=_shown(merged, name),
            )
        )
    return found


def _comparable(value):
    name = getattr(value, "name", None)  # a photo: compared by its file
    return name if name is not None and not isinstance(value, str) else value


def _shown(patron: Patron, name: str) -> str:
    if name == "photo":
        return "a photo" if patron.photo else "—"
    return log.shown_value(Patron, name, log.snapshot(patron, [name])[name])


def _moving(survivor: Patron, merged: Patron) -> list[Moving]:
    counts = _counts(merged)
    dropped = {
        "statistics": _duplicate_statistics(survivor, merged),
        "emails": _duplicate_emails(survivor, merged),
    }
    moving = [
        Moving(label, counts[name], dropped.get(name, 0))
        for label, name in MOVING_KINDS
        if counts[name]
    ]
    links, link_drops = _proxy_links(survivor, merged)
    if links:
        moving.append(Moving("Proxy links", links, link_drops))
    moving.extend(Moving(label, count) for label, count in merging.counted(merged) if count)
    return moving


def _counts(merged: Patron) -> dict[str, int]:
    """Every kind's count in one query (scalar subqueries, no join of the kinds)."""
    names = [name for _, name in MOVING_KINDS]
    annotations = {f"n_{name}": _count_of(name) for name in names}
    row = Patron.objects.filter(pk=merged.pk).values(**annotations).first() or {}
    return {name: row.get(f"n_{name}") or 0 for name in names}


def _count_of(related_name: str):
    relation = Patron._meta.get_field(related_name)
    rows = (
        relation.related_model._base_manager.filter(**{relation.field.name: OuterRef("pk")})
        .order_by()
        .values(relation.field.name)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


def _duplicate_statistics(survivor: Patron, merged: Patron) -> int:
    held = PatronStatistic.objects.filter(
        patron=survivor, category=OuterRef("category"), owner_site=OuterRef("owner_site")
    )
    return PatronStatistic.objects.filter(patron=merged).filter(Exists(held)).count()


def _duplicate_emails(survivor: Patron, merged: Patron) -> int:
    known = {a.lower() for a in survivor.emails.values_list("address", flat=True)}
    theirs = PatronEmail.objects.filter(patron=merged).values_list("address", flat=True)
    return sum(1 for address in theirs if address.lower() in known)


def _proxy_links(survivor: Patron, merged: Patron) -> tuple[int, int]:
    """The merged-away record's links either way, and how many of them are dropped
    (between the two records, or held by the survivor already)."""
    links = list(
        ProxyLink.objects.filter(Q(proxy=merged) | Q(patron=merged)).values_list(
            "proxy_id", "patron_id"
        )
    )
    held = set(
        ProxyLink.objects.filter(Q(proxy=survivor) | Q(patron=survivor)).values_list(
            "proxy_id", "patron_id"
        )
    )
    dropped = 0
    for proxy_id, patron_id in links:
        as_survivor = tuple(survivor.pk if pk == merged.pk else pk for pk in (proxy_id, patron_id))
        if as_survivor[0] == as_survivor[1] or as_survivor in held:
            dropped += 1
    return len(links), dropped
