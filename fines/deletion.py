"""Refusing to delete a patron whose balance is not zero (registered into
patrons.deletion from FinesConfig.ready).

Deleting a patron deletes their fees and ledger with them: money they owe (active, in
dispute or transferred to the bursar) would be forgotten, and a credit (money the library
owes them) would never be paid back. Both must be settled first, on the Fines tab.
"""

from decimal import Decimal

from django.db.models import Exists, OuterRef, Q
from django.urls import reverse

from fines.models import Balance
from fines.money import format_money
from patrons.deletion import Link, Refusal

KEY = "fines.balance"
WAIVE = "fines.waive_fee"
OWES = "Owes {total} ({parts}): settle or waive the balance first."
HAS_CREDIT = "Has a credit of {credit}: refund or cancel it first."
PART_LABELS = {
    "active": "active",
    "disputed": "in dispute",
    "transferred": "transferred to the bursar",
}
FINES_TAB = "Open the Fines tab"
WAIVE_ALL = "Waive the balance first"
WAIVE_QUERY = "?status=all&waive=all"
ZERO = Decimal("0.00")
REASON = "balance not zero"


def refusals(patron) -> list[Refusal]:
    """What the patron's saved balance says against deleting them (one query)."""
    balance = Balance.objects.filter(patron_id=patron.pk).first()
    if balance is None:
        return []
    tab = reverse("patrons:tab", args=[patron.pk, "fines"])
    found = []
    owed = {name: getattr(balance, name) for name in PART_LABELS}
    if any(owed.values()):
        links = [Link(FINES_TAB, tab)]
        if balance.active or balance.disputed:
            links.append(Link(WAIVE_ALL, tab + WAIVE_QUERY, permission=WAIVE))
        found.append(Refusal(_owes(owed), tuple(links)))
    if balance.credit:
        found.append(
            Refusal(HAS_CREDIT.format(credit=format_money(balance.credit)), (Link(FINES_TAB, tab),))
        )
    return found


def _owes(owed: dict[str, Decimal]) -> str:
    parts = ", ".join(
        f"{PART_LABELS[name]} {format_money(amount)}" for name, amount in owed.items() if amount
    )
    return OWES.format(total=format_money(sum(owed.values(), ZERO)), parts=parts)


def without_balance(patrons):
    """`patrons` (a queryset) without those whose balance is not exactly zero either way:
    owed, in dispute, transferred or a credit (the set-based twin of `refusals`)."""
    not_zero = Balance.objects.filter(patron_id=OuterRef("pk")).filter(
        Q(active__gt=0) | Q(disputed__gt=0) | Q(transferred__gt=0) | Q(credit__gt=0)
    )
    return patrons.exclude(Exists(not_zero))
