"""Reads for the patron's own account (/me/): their record, standing, blocks, fees and the
notes meant for them, and everything stored about them as one document ("Download my
data").

Each starts with policy.OWN_ACCOUNT and reads only rows of the signed-in patron. Never
exported: the password hash, the PIN, notes not marked visible to the patron, and who on
the staff made a change (another patron's data).
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from patrons import system_blocks
from patrons.models import Block, Note, Patron, PatronType, ProxyLink
from security import policy
from security.models import SecurityGroup
from sites.models import Site

# Patron columns never exported: secrets, search helpers, and the staff who made a change.
NOT_EXPORTED = frozenset(
    {"password", "pin", "search_name", "sort_name", "created_by", "updated_by", "version"}
)
# Foreign keys of the record, exported as the name of what they point to.
_NAMED = {"home_site": Site, "security_group": SecurityGroup, "patron_type": PatronType}
BY_YOU, BY_LIBRARY = "you", "library"
# The fines app's Fee.Status values (patrons imports no fines code).
OPEN_FEE_STATUSES = ("active", "disputed", "transferred")
CLOSED_FEE_STATUS = "closed"
CLOSED_FEES_SHOWN = 50
NOTHING = Decimal("0.00")


@dataclass(frozen=True)
class Standing:
    """Whether the card still works; when not, the home site is whom to contact."""

    expired_on: date | None
    inactive: bool

    @property
    def in_good_standing(self) -> bool:
        return self.expired_on is None and not self.inactive


def own_account(*, user) -> Patron:
    """The signed-in patron's record, read again with what their page shows of it."""
    policy.require(user, policy.OWN_ACCOUNT, user)
    return Patron.objects.select_related(
        "home_site", "security_group", "patron_type", "balance"
    ).get(pk=user.pk)


def own_standing(patron: Patron) -> Standing:
    expired_on = patron.expiry_date if patron.is_expired else None
    return Standing(expired_on=expired_on, inactive=not patron.is_active)


def own_blocks(patron: Patron) -> QuerySet:
    """Every active block on the patron's own account, whatever its owner site: the owner
    site limits which staff see a block, never the patron it stops."""
    return Block.objects.active().filter(patron=patron).select_related("block_type")


def own_system_blocks(patron: Patron) -> list:
    return system_blocks.blocks_of(patron)


def own_proxy_for(patron: Patron) -> QuerySet:
    """Whom the patron may act for now (their own links: no staff scope applies)."""
    return ProxyLink.objects.active().filter(proxy=patron).select_related("patron")


def own_notes(patron: Patron) -> QuerySet:
    return Note.objects.filter(patron=patron, is_visible_to_patron=True).select_related("note_type")


@dataclass(frozen=True)
class OwnBalance:
    """What the patron owes, by status, and what the library owes them (credit)."""

    owed: Decimal = NOTHING
    disputed: Decimal = NOTHING
    transferred: Decimal = NOTHING
    credit: Decimal = NOTHING

    @property
    def is_zero(self) -> bool:
        return not (self.owed or self.disputed or self.transferred or self.credit)


@dataclass(frozen=True)
class OwnFees:
    balance: OwnBalance
    open: list
    closed: list  # the latest CLOSED_FEES_SHOWN


def own_fees(patron: Patron) -> OwnFees:
    """The patron's balance and fees, whatever their owner site (like own_blocks: the
    owner site limits which staff see a fee, never the patron who owes it). One query for
    the open fees and the latest closed ones; the balance comes with own_account."""
    fees = patron.fees.select_related("fee_type")
    latest_closed = fees.filter(status=CLOSED_FEE_STATUS).order_by("-status_at", "-pk")
    shown = fees.filter(
        Q(status__in=OPEN_FEE_STATUSES) | Q(pk__in=latest_closed.values("pk")[:CLOSED_FEES_SHOWN])
    )
    found = list(shown.order_by("created_at", "pk"))
    closed = [fee for fee in found if fee.status == CLOSED_FEE_STATUS]
    return OwnFees(
        balance=own_balance(patron),
        open=[fee for fee in found if fee.status != CLOSED_FEE_STATUS],
        closed=sorted(closed, key=lambda fee: (fee.status_at, fee.pk), reverse=True),
    )


def own_balance(patron: Patron) -> OwnBalance:
    """The fines app's summary row of the patron, read by its relation's name (own_account
    joins it); no row means nothing owed either way."""
    row = getattr(patron, "balance", None)
    if row is None:
        return OwnBalance()
    return OwnBalance(
        owed=row.active, disputed=row.disputed, transferred=row.transferred, credit=row.credit
    )


def own_data(*, user) -> dict:
    """Everything stored about the signed-in patron, for "Download my data", in a number
    of queries that does not grow with their rows."""
    patron = own_account(user=user)
    return {
        "exported_at": timezone.now(),
        "record": _record(patron),
        "emails": list(
            patron.emails.values(
                "kind", "address", "is_primary", "is_undeliverable", "created_at", "updated_at"
            )
        ),
        "addresses": list(
            patron.addresses.values(
                "kind",
                "street",
                "city",
                "region",
                "postal_code",
                "country",
                "is_preferred",
                "created_at",
                "updated_at",
            )
        ),
        "phones": list(
            patron.phones.values("kind", "number", "is_preferred", "created_at", "updated_at")
        ),
        "guardians": list(
            patron.guardians.values(
                "name",
                "relationship",
                "email",
                "phone",
                "receives_notices",
                "created_at",
                "updated_at",
            )
        ),
        "identifiers": list(
            patron.identifiers.values(
                "value", "note", "created_at", type=F("identifier_type__name")
            )
        ),
        "notes": list(
            own_notes(patron).values(
                "text", "created_at", type=F("note_type__name"), site=F("owner_site__name")
            )
        ),
        "blocks": list(
            patron.blocks.values(
                "note",
                "expires_on",
                "created_at",
                type=F("block_type__name"),
                site=F("owner_site__name"),
            )
        ),
        "fees": _fees(patron),
        "history": _history(patron),
    }


def _fees(patron: Patron) -> list[dict]:
    """Every fee of the patron with every line of its ledger (two queries). Amounts are as
    stored, positive, with `is_credit` saying which way they go. Who made a line is "you"
    or "library": a staff member's name is another patron's data; so are the comments of
    ledger lines, staff's working notes (a fee's own comment is what it is for)."""
    fees = list(
        patron.fees.order_by("created_at", "pk").values(
            "id",
            "status",
            "is_credit",
            "item_barcode",
            "comment",
            "original_amount",
            "remaining",
            "created_at",
            "status_at",
            type=F("fee_type__name"),
            site=F("owner_site__name"),
        )
    )
    ledgers = {fee["id"]: [] for fee in fees}
    lines = (
        _ledger_lines(patron)
        .order_by("at", "pk")
        .values(
            "fee_id",
            "kind",
            "amount",
            "balance_after",
            "at",
            "by_id",
            method=F("payment_method__name"),
            reason=F("waive_reason__name"),
            receipt_number=F("receipt__number"),
            receipt_site=F("receipt__site__code"),
        )
    )
    for line in lines:
        by_id = line.pop("by_id")
        line["by"] = BY_YOU if by_id == patron.pk else BY_LIBRARY
        ledgers[line.pop("fee_id")].append(line)
    return [fee | {"ledger": ledgers[fee["id"]]} for fee in fees]


def _ledger_lines(patron: Patron) -> QuerySet:
    """The ledger lines of the patron's fees (the fines app's model, found through the
    relations' names: patrons imports no fines code)."""
    line_model = patron.fees.model._meta.get_field("transactions").related_model
    return line_model.objects.filter(fee__patron=patron)


def _record(patron: Patron) -> dict:
    record = {}
    for field in Patron._meta.concrete_fields:
        if field.name in NOT_EXPORTED:
            continue
        if field.name in _NAMED:
            related = getattr(patron, field.name)
            record[field.name] = related.name if related is not None else None
        elif field.name == "photo":
            record["photo"] = patron.photo.name or None
        else:
            record[field.name] = getattr(patron, field.attname)
    record["site_access"] = list(patron.site_access.values_list("name", flat=True))
    return record


def _history(patron: Patron) -> list[dict]:
    """Each saved version of the record: when, by whom (the patron or the library), and
    the record as first saved, then what each save changed."""
    events = list(patron.events.select_related("pgh_context").order_by("pgh_id"))
    fields = [
        field
        for field in patron.events.model._meta.concrete_fields
        if not field.name.startswith("pgh_") and field.name not in NOT_EXPORTED
    ]
    names = _names_of(events)
    history, before = [], None
    for event in events:
        after = {field.name: _value(event, field, names) for field in fields}
        entry = {"at": event.pgh_created_at, "event": event.pgh_label, "by": _by(event, patron)}
        if before is None:
            entry["record"] = after
        else:
            entry["changes"] = {
                name: {"from": before[name], "to": value}
                for name, value in after.items()
                if before[name] != value
            }
        history.append(entry)
        before = after
    return history


def _names_of(events) -> dict[str, dict[int, str]]:
    """The names of the sites, groups and patron types the versions point to: one query
    per kind."""
    names = {}
    for name, model in _NAMED.items():
        ids = {getattr(event, f"{name}_id") for event in events} - {None}
        names[name] = (
            dict(model.objects.filter(pk__in=ids).values_list("pk", "name")) if ids else {}
        )
    return names


def _value(event, field, names):
    value = getattr(event, field.attname)
    if field.name in names:
        return names[field.name].get(value) if value is not None else None
    if field.name == "photo":
        return value.name or None
    return value


def _by(event, patron: Patron) -> str | None:
    """The patron themselves, the library (without naming the staff member), or nobody
    known (an import or a migration)."""
    context = event.pgh_context
    user_id = context.metadata.get("user") if context is not None else None
    if user_id is None:
        return None
    return BY_YOU if user_id == patron.pk else BY_LIBRARY
