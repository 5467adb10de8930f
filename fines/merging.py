"""The fines app's part of a patron merge (patrons.merging): fees move with their ledger,
receipts, bursar transfers and money keys follow, and the survivor's balance is summed
again from its fees."""

from decimal import Decimal

from fines.models import Balance, BursarExport, Fee, MoneyRequest, Receipt
from fines.money import format_money
from fines.services import balance_sums

KEY = "fines.ledger"
CREDIT_MOVES = "Credit {amount} moves to the survivor."
OWED_MOVES = "{part} {amount} moves to the survivor."
OWED_PARTS = (
    ("active", "Owed"),
    ("disputed", "In dispute"),
    ("transferred", "Transferred to the bursar"),
)
HANDLES = frozenset({"fines.fee", "fines.balance", "fines.moneyrequest"})


def move(survivor, merged) -> dict[str, int]:
    """In the ledger's locking order: the two Balance rows (in patron id order), then the
    fees (in id order). Fee lines are never updated: they name their fee, not the patron."""
    ids = sorted((survivor.pk, merged.pk))
    Balance.objects.bulk_create([Balance(patron_id=pk) for pk in ids], ignore_conflicts=True)
    list(Balance.objects.select_for_update().filter(patron_id__in=ids).order_by("patron_id"))
    fee_ids = list(
        Fee.objects.select_for_update(of=("self",))
        .filter(patron=merged)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    moved = {"fees": Fee.objects.filter(pk__in=fee_ids).update(patron=survivor)}
    moved["receipts"] = Receipt.objects.filter(patron=merged).update(patron=survivor)
    BursarExport.objects.filter(patron=merged).update(patron=survivor)
    MoneyRequest.objects.filter(patron=merged).update(patron=survivor)
    Balance.objects.filter(pk=survivor.pk).update(
        **balance_sums(Fee.objects.filter(patron=survivor))
    )
    Balance.objects.filter(pk=merged.pk).delete()
    return moved


def preview(merged) -> list[str]:
    """The merged-away record's balance, part by part, the credit on a line of its own."""
    balance = Balance.objects.filter(patron_id=merged.pk).first()
    if balance is None:
        return []
    lines = [
        OWED_MOVES.format(part=label, amount=format_money(getattr(balance, name)))
        for name, label in OWED_PARTS
        if getattr(balance, name) > Decimal("0")
    ]
    if balance.credit > 0:
        lines.append(CREDIT_MOVES.format(amount=format_money(balance.credit)))
    return lines


def count(merged) -> int:
    return Fee.objects.filter(patron=merged).count()
