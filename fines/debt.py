"""The debt limit: one rule everywhere (the Blocks tab, the header, /me/, the patron list).

A patron is blocked when their net active balance (active fees less credit; disputed and
transferred amounts are not counted, as in Alma) is greater than or equal to the debt limit
of their patron type. It is read live from the patron's `Balance`, which the ledger keeps
in the same transaction as every change: there is no stored block to go stale, and a
change of the limit or of the patron type counts at once.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import F, Q

from fines.money import format_money
from patrons.system_blocks import Provider, SystemBlock

KEY = "fines.debt_limit"
LABEL = "Debt limit reached"
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Standing:
    net: Decimal
    disputed: Decimal
    transferred: Decimal
    limit: Decimal | None

    @property
    def blocked(self) -> bool:
        return self.limit is not None and self.net >= self.limit

    def reason(self) -> str:
        words = [f"Owes {format_money(self.net)} of a {format_money(self.limit)} limit"]
        if self.disputed:
            words.append(f"{format_money(self.disputed)} in dispute not counted")
        if self.transferred:
            words.append(f"{format_money(self.transferred)} transferred to the bursar not counted")
        return "; ".join(words) + "."


def standing(patron) -> Standing:
    """The patron's balance against their limit, as saved now (one query)."""
    return standing_of(patron.pk)


def standing_of(patron_id: int) -> Standing:
    from patrons.models import Patron

    row = (
        Patron.objects.filter(pk=patron_id)
        .values(
            "patron_type__debt_limit", "balance__net", "balance__disputed", "balance__transferred"
        )
        .first()
    ) or {}
    return Standing(
        net=row.get("balance__net") or ZERO,
        disputed=row.get("balance__disputed") or ZERO,
        transferred=row.get("balance__transferred") or ZERO,
        limit=row.get("patron_type__debt_limit"),
    )


def blocks(patron) -> list[SystemBlock]:
    found = standing(patron)
    return [SystemBlock(LABEL, found.reason())] if found.blocked else []


def condition() -> Q:
    """The same rule as a filter on Patron (a patron without a balance row owes nothing)."""
    return Q(patron_type__debt_limit__isnull=False, balance__net__gte=F("patron_type__debt_limit"))


PROVIDER = Provider(key=KEY, blocks=blocks, condition=condition)
