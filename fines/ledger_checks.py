"""The proof that the stored summaries equal the ledger (`manage.py check_ledger`).

`Fee.remaining`, the last line's `balance_after`, a fee's status, the patron's `Balance`
and a receipt's total are kept by the services in the same transaction as the ledger line
that changes them. These queries recompute each from the append-only `FeeTransaction`
lines and report every row where the stored value differs. Each check is one set-based
query (GROUP BY over the whole table), so the cost grows with the table, not with a query
per fee: it runs on a million fees.

The sums follow the services: charge and credit lines add to what remains, payment and
waive lines take from it; dispute, restore, transfer, reverse and refund lines change a
fee's status or give money back, never what remains. A patron's balance is
`fines.services.balance_sums` of their fees; a patron with fees but no balance row is
reported when those sums are not all zero.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.db import connection

from fines.models import Balance, Fee, FeeTransaction, Receipt
from sites.models import Site

ADDS = (FeeTransaction.Kind.CHARGE, FeeTransaction.Kind.CREDIT)
TAKES = (FeeTransaction.Kind.PAYMENT, FeeTransaction.Kind.WAIVE)
BALANCE_PARTS = ("active", "disputed", "transferred", "credit")


@dataclass(frozen=True)
class Difference:
    """One stored value that is not what the ledger says."""

    subject: str  # "fee 12", "balance of patron 7", "receipt AMS-3"
    message: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.message}"


@dataclass(frozen=True)
class Report:
    fees: int
    balances: int
    differences: list[Difference]

    @property
    def summary(self) -> str:
        return (
            f"Ledger checked: {self.fees} fees, {self.balances} balances, "
            f"{len(self.differences)} differences."
        )


def check() -> Report:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {Fee._meta.db_table}")  # noqa: S608
        fees = cursor.fetchone()[0]
        cursor.execute(f"SELECT count(*) FROM {Balance._meta.db_table}")  # noqa: S608
        balances = cursor.fetchone()[0]
        differences = [
            *_fee_differences(cursor),
            *_line_differences(cursor),
            *_balance_differences(cursor),
            *_refund_differences(cursor),
            *_receipt_differences(cursor),
        ]
    return Report(fees=fees, balances=balances, differences=differences)


# What a line adds to what remains of its fee.
_MOVES = """CASE WHEN kind IN (%(add1)s, %(add2)s) THEN amount
                 WHEN kind IN (%(take1)s, %(take2)s) THEN -amount
                 ELSE 0 END"""
_KINDS = {"add1": ADDS[0], "add2": ADDS[1], "take1": TAKES[0], "take2": TAKES[1]}

_FEES_SQL = f"""
WITH ledger AS (
    SELECT fee_id,
           sum({_MOVES}) AS remaining,
           sum(CASE WHEN kind IN (%(add1)s, %(add2)s) THEN amount ELSE 0 END) AS charged,
           max(id) AS last_id
    FROM {FeeTransaction._meta.db_table}
    GROUP BY fee_id
)
SELECT fee.id, fee.patron_id, fee.status, fee.remaining, fee.original_amount,
       ledger.remaining, ledger.charged, last.balance_after
FROM {Fee._meta.db_table} fee
LEFT JOIN ledger ON ledger.fee_id = fee.id
LEFT JOIN {FeeTransaction._meta.db_table} last ON last.id = ledger.last_id
WHERE ledger.fee_id IS NULL
   OR ledger.remaining <> fee.remaining
   OR ledger.charged <> fee.original_amount
   OR last.balance_after <> fee.remaining
   OR (fee.status = %(closed)s) <> (fee.remaining = 0)
ORDER BY fee.id
"""  # noqa: S608 (table names from the models, values as parameters)


def _fee_differences(cursor) -> list[Difference]:
    cursor.execute(
        _FEES_SQL,
        {**_KINDS, "closed": Fee.Status.CLOSED},
    )
    found = []
    for fee_id, patron_id, status, remaining, original, ledger, charged, last in cursor:
        subject = f"fee {fee_id} (patron {patron_id})"
        if ledger is None:
            found.append(Difference(subject, "has no ledger lines"))
            continue
        if ledger != remaining:
            found.append(Difference(subject, f"remaining {remaining}, ledger sum {ledger}"))
        if charged != original:
            found.append(Difference(subject, f"original amount {original}, charged {charged}"))
        if last != remaining:
            found.append(Difference(subject, f"remaining {remaining}, last balance_after {last}"))
        if (status == Fee.Status.CLOSED) != (remaining == 0):
            found.append(Difference(subject, f"status {status} with {remaining} remaining"))
    return found


# Lines in the order they were written (under the fee's lock: ids increase).
_LINES_SQL = f"""
SELECT DISTINCT ON (fee_id) fee_id, id, balance_after, running
FROM (
    SELECT fee_id, id, balance_after,
           sum({_MOVES}) OVER (PARTITION BY fee_id ORDER BY id) AS running
    FROM {FeeTransaction._meta.db_table}
) line
WHERE balance_after <> running
ORDER BY fee_id, id
"""  # noqa: S608


def _line_differences(cursor) -> list[Difference]:
    """Every line's balance_after is the ledger's sum up to it (the first wrong line of
    each fee is reported)."""
    cursor.execute(_LINES_SQL, _KINDS)
    return [
        Difference(f"fee {fee_id}", f"line {line_id} says {after} remained, the ledger {running}")
        for fee_id, line_id, after, running in cursor
    ]


_BALANCES_SQL = f"""
WITH sums AS (
    SELECT patron_id,
           coalesce(sum(remaining) FILTER (WHERE NOT is_credit AND status = %(active)s), 0)
               AS active,
           coalesce(sum(remaining) FILTER (WHERE NOT is_credit AND status = %(disputed)s), 0)
               AS disputed,
           coalesce(sum(remaining) FILTER (WHERE NOT is_credit AND status = %(transferred)s), 0)
               AS transferred,
           coalesce(sum(remaining) FILTER (WHERE is_credit AND status = %(active)s), 0)
               AS credit
    FROM {Fee._meta.db_table}
    GROUP BY patron_id
)
SELECT coalesce(balance.patron_id, sums.patron_id), balance.patron_id IS NOT NULL,
       balance.active, balance.disputed, balance.transferred, balance.credit,
       coalesce(sums.active, 0), coalesce(sums.disputed, 0),
       coalesce(sums.transferred, 0), coalesce(sums.credit, 0)
FROM {Balance._meta.db_table} balance
FULL OUTER JOIN sums ON sums.patron_id = balance.patron_id
WHERE (balance.patron_id IS NULL
       AND (sums.active <> 0 OR sums.disputed <> 0 OR sums.transferred <> 0 OR sums.credit <> 0))
   OR (balance.patron_id IS NOT NULL
       AND (balance.active <> coalesce(sums.active, 0)
            OR balance.disputed <> coalesce(sums.disputed, 0)
            OR balance.transferred <> coalesce(sums.transferred, 0)
            OR balance.credit <> coalesce(sums.credit, 0)))
ORDER BY 1
"""  # noqa: S608


def _balance_differences(cursor) -> list[Difference]:
    cursor.execute(
        _BALANCES_SQL,
        {
            "active": Fee.Status.ACTIVE,
            "disputed": Fee.Status.DISPUTED,
            "transferred": Fee.Status.TRANSFERRED,
        },
    )
    found = []
    for patron_id, has_row, *values in cursor:
        stored, summed = values[:4], values[4:]
        subject = f"balance of patron {patron_id}"
        if not has_row:
            parts = ", ".join(f"{n} {v}" for n, v in zip(BALANCE_PARTS, summed, strict=True))
            found.append(Difference(subject, f"no balance row, the fees sum to {parts}"))
            continue
        for name, kept, fees in zip(BALANCE_PARTS, stored, summed, strict=True):
            if kept != fees:
                found.append(Difference(subject, f"{name} {kept}, the fees sum to {fees}"))
    return found


_REFUNDS_SQL = f"""
SELECT payment.id, payment.fee_id, payment.amount, sum(refund.amount)
FROM {FeeTransaction._meta.db_table} payment
JOIN {FeeTransaction._meta.db_table} refund ON refund.refund_of_id = payment.id
GROUP BY payment.id, payment.fee_id, payment.amount
HAVING sum(refund.amount) > payment.amount
ORDER BY payment.id
"""  # noqa: S608


def _refund_differences(cursor) -> list[Difference]:
    """A payment never gives back more than it took."""
    cursor.execute(_REFUNDS_SQL)
    return [
        Difference(
            f"payment {payment_id} (fee {fee_id})",
            f"refunded {refunded} of a payment of {amount}",
        )
        for payment_id, fee_id, amount, refunded in cursor
    ]


_RECEIPTS_SQL = f"""
SELECT receipt.id, site.code, receipt.number, receipt.total, sum(line.amount)
FROM {Receipt._meta.db_table} receipt
JOIN {Site._meta.db_table} site ON site.id = receipt.site_id
LEFT JOIN {FeeTransaction._meta.db_table} line
       ON line.receipt_id = receipt.id AND line.kind = receipt.kind
GROUP BY receipt.id, site.code, receipt.number, receipt.total
HAVING sum(line.amount) IS DISTINCT FROM receipt.total
ORDER BY receipt.id
"""  # noqa: S608


def _receipt_differences(cursor) -> list[Difference]:
    """A receipt's total is what its ledger lines moved."""
    cursor.execute(_RECEIPTS_SQL)
    return [
        Difference(
            f"receipt {code}-{number}",
            f"total {total}, its lines {lines if lines is not None else Decimal('0.00')}",
        )
        for _, code, number, total, lines in cursor
    ]
