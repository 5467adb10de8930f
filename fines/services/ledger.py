"""Every change to a patron's fees. Each action, in one transaction:

1. claims the form's one-time key (`_claim`): a second submission of the same form finds
   the first and raises `AlreadyDone` (the view shows the first result);
2. locks the patron's `Balance` row, then the fees concerned in id order: two desks acting
   on one patron take turns, and never deadlock;
3. checks the policy for every fee, then the amounts (`fines.money.amount_refusal`, and
   never more than remains or was paid);
4. appends ledger lines, updates each fee's `remaining` and status, recomputes the
   patron's balance from the fees and logs the action.

The debt-limit block is read from that balance (fines.debt), so it follows in the same
transaction; if anything fails, nothing is kept.
"""

import csv
import io
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from fines import debt
from fines.models import (
    Balance,
    BursarExport,
    CashSession,
    Fee,
    FeeTransaction,
    FeeType,
    MoneyRequest,
    PaymentMethod,
    Receipt,
    ReceiptCounter,
    WaiveReason,
)
from fines.money import amount_refusal, format_money
from security import log, policy, preferences

VIEW = "fines.view_fee"
ADD = "fines.add_fee"
PAY = "fines.pay_fee"
WAIVE = "fines.waive_fee"
DISPUTE = "fines.dispute_fee"
REFUND = "fines.refund_fee"
CREDIT = "fines.credit_fee"
TRANSFER = "fines.transfer_fee"

NO_FEES_CHOSEN = "Choose at least one fee."
FEE_GONE = "One of the chosen fees is not on this record."
NOT_PAYABLE = "Only active fees can be paid: {fees}."
NOT_WAIVABLE = "Only active or disputed fees can be waived: {fees}."
NOT_DISPUTABLE = "Only active fees can be disputed: {fees}."
NOT_RESTORABLE = "Only disputed fees can be restored: {fees}."
NOT_TRANSFERABLE = "Only active fees can be transferred: {fees}."
MORE_THAN_OWED = "That is more than the {total} the chosen fees owe."
MORE_THAN_PAID = "That is more than the {total} of this payment not yet refunded."
TOO_MANY_TO_WAIVE = "At most {limit} fees can be waived in one action; {count} were chosen."
TENDERED_TOO_LOW = "The cash handed over ({tendered}) is less than the payment ({amount})."
TENDERED_REQUIRED = "Enter the cash handed over, to give the change."
NO_CASH_SESSION = "Open a cash session before taking or giving back cash."
CREDIT_COMMENT_REQUIRED = "Say what the credit is for."
NOT_A_CREDIT_TYPE = "Choose a credit type for a credit."
A_CREDIT_TYPE = "A credit type adds a credit: use Add credit."
NOT_A_PAYMENT = "No such payment on this record."
EXPORT_GONE = "No such transfer on this record."
EXPORT_REVERSED = "This transfer was reversed already."
CREDITS_WAIVED_APART = (
    "Credits are cancelled apart from fees: a waive of both would take one off the other."
)
KEY_USED = "This form was already used: reload the page and try again."
COMMENT_MAX = 500


class AlreadyDone(Exception):
    """The form's one-time key was used: `request` is the first submission's record."""

    def __init__(self, request: MoneyRequest):
        super().__init__("already done")
        self.request = request


@dataclass
class Outcome:
    """What an action did: the fees it touched, the receipt or export it made."""

    fees: list[Fee]
    amount: Decimal | None = None  # the money moved, or the amount a status change concerns
    receipt: Receipt | None = None
    export: BursarExport | None = None


# --- adding ------------------------------------------------------------------------------


@transaction.atomic
def fee_add(
    *, actor, patron, key, fee_type: FeeType, owner_site, amount, item_barcode="", comment=""
):
    """Charge `patron` `amount` of `fee_type`, owned by `owner_site`."""
    _claim(key, actor, patron, "add")
    if fee_type.is_credit:
        raise ValidationError({"fee_type": A_CREDIT_TYPE})
    return _new_fee(
        actor,
        patron,
        ADD,
        FeeTransaction.Kind.CHARGE,
        fee_type,
        owner_site,
        amount,
        item_barcode,
        comment,
    )


@transaction.atomic
def credit_add(*, actor, patron, key, fee_type: FeeType, owner_site, amount, comment):
    """Credit `patron` `amount`: the library owes it to them (shown negative)."""
    _claim(key, actor, patron, "credit")
    errors = {}
    if not fee_type.is_credit:
        errors["fee_type"] = NOT_A_CREDIT_TYPE
    if not comment.strip():
        errors["comment"] = CREDIT_COMMENT_REQUIRED
    if errors:
        raise ValidationError(errors)
    return _new_fee(
        actor, patron, CREDIT, FeeTransaction.Kind.CREDIT, fee_type, owner_site, amount, "", comment
    )


def _new_fee(actor, patron, action, kind, fee_type, owner_site, amount, item_barcode, comment):
    fee = Fee(
        patron=patron,
        fee_type=fee_type,
        is_credit=fee_type.is_credit,
        owner_site=owner_site,
        item_barcode=item_barcode.strip(),
        comment=comment.strip()[:COMMENT_MAX],
        original_amount=amount,
        remaining=amount,
        status=Fee.Status.ACTIVE,
        status_at=timezone.now(),
        created_by=actor,
    )
    policy.require(actor, action, fee)
    fee.original_amount = fee.remaining = amount = _require_amount(amount)
    balance = _lock_balance(patron)
    fee.save()
    _line(fee, kind, amount, actor, comment=fee.comment)
    _refresh(balance)
    _log(actor, patron, fee, kind, amount)
    return fee


# --- paying and waiving ------------------------------------------------------------------


@transaction.atomic
def fees_pay(
    *,
    actor,
    patron,
    key,
    fee_ids: Iterable[int],
    method: PaymentMethod,
    site,
    amount=None,
    tendered=None,
) -> Outcome:
    """Pay `amount` (None: all they owe) off the chosen active fees, oldest first, by
    `method`; one receipt at the site where the money is taken (the cash session's for
    cash)."""
    request = _claim(key, actor, patron, "pay")
    balance = _lock_balance(patron)
    fees = _locked_fees(actor, patron, fee_ids, PAY)
    _require_status(fees, {Fee.Status.ACTIVE}, NOT_PAYABLE, credits=False)
    owed = sum(fee.remaining for fee in fees)
    amount = _whole_or_part(amount, owed)
    session, change_due = _cash(actor, method, amount, tendered)
    receipt = _receipt(
        actor,
        patron,
        Receipt.Kind.PAYMENT,
        session.site if session else site,
        method,
        amount,
        tendered=tendered if session else None,
        change_due=change_due,
        session=session,
    )
    paid = {}
    for fee, part in _oldest_first(fees, amount):
        fee.remaining -= part
        _append(
            fee, FeeTransaction.Kind.PAYMENT, part, actor, payment_method=method, receipt=receipt
        )
        paid[fee.pk] = part
    _print_lines(receipt, fees, paid)
    _refresh(balance)
    _finish(request, receipt)
    _log_many(actor, patron, fees, "payment", amount, receipt=receipt)
    return Outcome(fees, amount, receipt=receipt)


@transaction.atomic
def fees_waive(
    *, actor, patron, key, fee_ids: Iterable[int], reason: WaiveReason, amount=None, comment=""
) -> Outcome:
    """Waive the chosen fees in full, or `amount` of them oldest first, for `reason`; at
    most the preference's number of fees at once."""
    _claim(key, actor, patron, "waive")
    fee_ids = _distinct(fee_ids)
    limit = preferences.current().most_fees_waived_at_once
    if len(fee_ids) > limit:
        raise ValidationError({"fees": TOO_MANY_TO_WAIVE.format(limit=limit, count=len(fee_ids))})
    balance = _lock_balance(patron)
    fees = _locked_fees(actor, patron, fee_ids, WAIVE)
    _require_status(fees, {Fee.Status.ACTIVE, Fee.Status.DISPUTED}, NOT_WAIVABLE)
    if len({fee.is_credit for fee in fees}) > 1:
        raise ValidationError({"fees": CREDITS_WAIVED_APART})
    owed = sum(fee.remaining for fee in fees)
    amount = _whole_or_part(amount, owed)
    comment = comment.strip()[:COMMENT_MAX]
    for fee, part in _oldest_first(fees, amount):
        fee.remaining -= part
        _append(fee, FeeTransaction.Kind.WAIVE, part, actor, waive_reason=reason, comment=comment)
    _refresh(balance)
    _log_many(actor, patron, fees, "waive", amount, reason=reason.name, comment=comment)
    return Outcome(fees, amount)


# --- dispute, restore --------------------------------------------------------------------


@transaction.atomic
def fees_dispute(*, actor, patron, key, fee_ids: Iterable[int], comment="") -> Outcome:
    """Put active fees in dispute: their amounts stop counting towards the debt limit."""
    return _change_status(
        actor,
        patron,
        key,
        fee_ids,
        comment,
        FeeTransaction.Kind.DISPUTE,
        {Fee.Status.ACTIVE},
        Fee.Status.DISPUTED,
        NOT_DISPUTABLE,
    )


@transaction.atomic
def fees_restore(*, actor, patron, key, fee_ids: Iterable[int], comment="") -> Outcome:
    """End the dispute of disputed fees: they count again."""
    return _change_status(
        actor,
        patron,
        key,
        fee_ids,
        comment,
        FeeTransaction.Kind.RESTORE,
        {Fee.Status.DISPUTED},
        Fee.Status.ACTIVE,
        NOT_RESTORABLE,
    )


def _change_status(actor, patron, key, fee_ids, comment, kind, allowed, new_status, refusal):
    _claim(key, actor, patron, kind)
    balance = _lock_balance(patron)
    fees = _locked_fees(actor, patron, fee_ids, DISPUTE)
    _require_status(fees, allowed, refusal, credits=False)
    comment = comment.strip()[:COMMENT_MAX]
    for fee in fees:
        fee.status = new_status
        _append(fee, kind, fee.remaining, actor, comment=comment)
    _refresh(balance)
    _log_many(actor, patron, fees, kind, sum(fee.remaining for fee in fees), comment=comment)
    return Outcome(fees)


# --- refunds -----------------------------------------------------------------------------


@transaction.atomic
def payment_refund(*, actor, patron, key, payment_id, amount, comment="") -> Outcome:
    """Give back `amount` of a payment (never more than it has left to refund), by the
    payment's method, on a receipt that names the payment's. The fee stays as it is: the
    money returns to the patron, the debt does not return."""
    request = _claim(key, actor, patron, "refund")
    balance = _lock_balance(patron)
    payment = _payment_of(patron, payment_id)
    fee = _locked_fees(actor, patron, [payment.fee_id], REFUND)[0]
    refunded = payment.refunds.aggregate(total=Coalesce(Sum("amount"), Decimal("0.00")))["total"]
    left = payment.amount - refunded
    amount = _require_amount(amount)
    if amount > left:
        raise ValidationError({"amount": MORE_THAN_PAID.format(total=format_money(left))})
    method = payment.payment_method
    session, _ = _cash(actor, method, amount, tendered=amount)
    site = session.site if session else payment.receipt.site
    receipt = _receipt(
        actor,
        patron,
        Receipt.Kind.REFUND,
        site,
        method,
        amount,
        session=session,
        undoes=payment.receipt,
    )
    _append(
        fee,
        FeeTransaction.Kind.REFUND,
        amount,
        actor,
        payment_method=method,
        receipt=receipt,
        refund_of=payment,
        comment=comment.strip()[:COMMENT_MAX],
    )
    _print_lines(receipt, [fee], {fee.pk: amount})
    _refresh(balance)
    _finish(request, receipt)
    _log_many(actor, patron, [fee], "refund", amount, receipt=receipt)
    return Outcome([fee], amount, receipt=receipt)


def _payment_of(patron, payment_id) -> FeeTransaction:
    pk = _int(payment_id)
    payment = pk is not None and (
        FeeTransaction.objects.select_related("payment_method", "receipt__site")
        .filter(pk=pk, kind=FeeTransaction.Kind.PAYMENT, fee__patron=patron)
        .first()
    )
    if not payment:
        raise ValidationError({"payment": NOT_A_PAYMENT})
    return payment


# --- the bursar --------------------------------------------------------------------------

BURSAR_COLUMNS = [
    "fee_id",
    "patron_barcode",
    "admin_system_id",
    "patron_name",
    "fee_type",
    "item_barcode",
    "created",
    "owner_site",
    "amount",
]


@transaction.atomic
def fees_transfer(*, actor, patron, key, fee_ids: Iterable[int]) -> Outcome:
    """Send the chosen active fees to the bursar: they become transferred (counted apart
    from the active balance) and the CSV is kept to download again."""
    _claim(key, actor, patron, "transfer")
    balance = _lock_balance(patron)
    fees = _locked_fees(actor, patron, fee_ids, TRANSFER)
    _require_status(fees, {Fee.Status.ACTIVE}, NOT_TRANSFERABLE, credits=False)
    total = sum(fee.remaining for fee in fees)
    export = BursarExport.objects.create(
        by=actor, patron=patron, total=total, csv=_bursar_csv(patron, fees)
    )
    for fee in fees:
        fee.status = Fee.Status.TRANSFERRED
        _append(fee, FeeTransaction.Kind.TRANSFER, fee.remaining, actor, bursar_export=export)
    _refresh(balance)
    _log_many(actor, patron, fees, "transfer", total, export=export.pk)
    return Outcome(fees, total, export=export)


@transaction.atomic
def transfer_reverse(*, actor, patron, key, export_id) -> Outcome:
    """Take a transfer back: its fees that are still transferred become active again."""
    _claim(key, actor, patron, "reverse")
    balance = _lock_balance(patron)
    export = (
        BursarExport.objects.select_for_update().filter(pk=_int(export_id), patron=patron).first()
    )
    if export is None:
        raise ValidationError(EXPORT_GONE)
    if export.reversed_at is not None:
        raise ValidationError(EXPORT_REVERSED)
    fee_ids = FeeTransaction.objects.filter(
        bursar_export=export, kind=FeeTransaction.Kind.TRANSFER
    ).values_list("fee_id", flat=True)
    fees = [
        fee
        for fee in _locked_fees(actor, patron, fee_ids, TRANSFER)
        if fee.status == Fee.Status.TRANSFERRED
    ]
    for fee in fees:
        fee.status = Fee.Status.ACTIVE
        _append(
            fee, FeeTransaction.Kind.REVERSE_TRANSFER, fee.remaining, actor, bursar_export=export
        )
    export.reversed_at = timezone.now()
    export.save(update_fields=["reversed_at"])
    _refresh(balance)
    _log_many(
        actor, patron, fees, "reverse_transfer", sum(f.remaining for f in fees), export=export.pk
    )
    return Outcome(fees, export=export)


def _bursar_csv(patron, fees) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(BURSAR_COLUMNS)
    for fee in fees:
        writer.writerow(
            [
                fee.pk,
                patron.barcode or "",
                patron.admin_system_id,
                _safe(patron.display_name),
                _safe(fee.fee_type.name),
                _safe(fee.item_barcode),
                fee.created_at.date().isoformat(),
                fee.owner_site.code,
                f"{fee.remaining:.2f}",
            ]
        )
    return out.getvalue()


def _safe(text: str) -> str:
    """A cell a spreadsheet will not run as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# --- the steps every action shares -------------------------------------------------------


def _claim(key, actor, patron, action) -> MoneyRequest:
    """Record the form's one-time key, or raise AlreadyDone when it was recorded before
    (a concurrent twin waits here for the first to commit)."""
    try:
        key = uuid.UUID(str(key))
    except ValueError:
        raise ValidationError(KEY_USED) from None
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO fines_moneyrequest (key, operator_id, patron_id, action, at) "
            "VALUES (%s, %s, %s, %s, now()) ON CONFLICT (key) DO NOTHING RETURNING key",
            [key, actor.pk, patron.pk, str(action)],
        )
        claimed = cursor.fetchone() is not None
    if not claimed:
        first = MoneyRequest.objects.filter(key=key).first()
        if first is None or first.operator_id != actor.pk or first.patron_id != patron.pk:
            raise ValidationError(KEY_USED)
        raise AlreadyDone(first)
    return MoneyRequest(key=key, operator=actor, patron=patron, action=str(action))


def _finish(request: MoneyRequest, receipt: Receipt) -> None:
    MoneyRequest.objects.filter(key=request.key).update(receipt=receipt)


def _lock_balance(patron) -> Balance:
    Balance.objects.bulk_create([Balance(patron_id=patron.pk)], ignore_conflicts=True)
    return Balance.objects.select_for_update().get(patron_id=patron.pk)


def _distinct(fee_ids) -> list[int]:
    found = []
    for value in fee_ids:
        pk = _int(value)
        if pk is None:
            raise ValidationError({"fees": FEE_GONE})
        if pk not in found:
            found.append(pk)
    return found


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _locked_fees(actor, patron, fee_ids, action) -> list[Fee]:
    """The chosen fees of this patron, locked in id order, each allowed `action`."""
    fee_ids = _distinct(fee_ids)
    if not fee_ids:
        raise ValidationError({"fees": NO_FEES_CHOSEN})
    fees = list(
        Fee.objects.select_for_update(of=("self",))
        .select_related("fee_type", "owner_site")
        .filter(patron=patron, pk__in=fee_ids)
        .order_by("pk")
    )
    if len(fees) != len(fee_ids):
        raise ValidationError({"fees": FEE_GONE})
    for fee in fees:
        fee.patron = patron
        fee.locked_status = fee.status
        if not policy.can(actor, action, fee):
            raise PermissionDenied(policy.DENIED)
    return sorted(fees, key=lambda fee: (fee.created_at, fee.pk))


def _require_status(fees, allowed, refusal, *, credits=True) -> None:
    wrong = [f for f in fees if f.status not in allowed or (f.is_credit and not credits)]
    if wrong:
        raise ValidationError({"fees": refusal.format(fees=", ".join(_label(f) for f in wrong))})


def _label(fee: Fee) -> str:
    return f"{fee.fee_type.name} of {fee.created_at:%Y-%m-%d} ({fee.get_status_display().lower()})"


def _whole_or_part(amount, owed: Decimal) -> Decimal:
    """What the chosen fees owe, or the part asked. In full, the total may pass the most
    one amount may be (each fee is within it, and so is each ledger line)."""
    return owed if amount is None else _require_amount(amount, owed=owed)


def _require_amount(amount, *, owed: Decimal | None = None) -> Decimal:
    """`amount` as a Decimal of whole cents, or a ValidationError on "amount" (a crafted
    call with text or a float gets the form's answer, not a crash)."""
    refusal = amount_refusal(amount)
    if refusal is None:
        amount = Decimal(str(amount).strip())
        if owed is not None and amount > owed:
            refusal = MORE_THAN_OWED.format(total=format_money(owed))
    if refusal:
        raise ValidationError({"amount": refusal})
    return amount


def _oldest_first(fees: list[Fee], amount: Decimal):
    """(fee, part) pairs that spend `amount` on `fees` in their order (oldest first)."""
    left = amount
    for fee in fees:
        if left <= 0:
            return
        part = min(fee.remaining, left)
        left -= part
        yield fee, part


def _cash(
    actor, method: PaymentMethod, amount, tendered
) -> tuple[CashSession | None, Decimal | None]:
    """The operator's open cash session and the change due, for cash; (None, None) else."""
    if not method.is_cash:
        return None, None
    # Locked: a drawer being closed in another tab waits, so no payment lands in a
    # session after its count.
    session = (
        CashSession.objects.select_for_update(of=("self",))
        .select_related("site")
        .filter(operator=actor, closed_at__isnull=True)
        .first()
    )
    if session is None:
        raise ValidationError({"payment_method": NO_CASH_SESSION})
    if tendered is None:
        raise ValidationError({"tendered": TENDERED_REQUIRED})
    refusal = amount_refusal(tendered)
    if refusal:
        raise ValidationError({"tendered": refusal})
    tendered = Decimal(str(tendered).strip())
    if tendered < amount:
        raise ValidationError(
            {
                "tendered": TENDERED_TOO_LOW.format(
                    tendered=format_money(tendered), amount=format_money(amount)
                )
            }
        )
    return session, tendered - amount


def _receipt(
    actor,
    patron,
    kind,
    site,
    method,
    total,
    *,
    tendered=None,
    change_due=None,
    session=None,
    undoes=None,
) -> Receipt:
    ReceiptCounter.objects.bulk_create([ReceiptCounter(site=site)], ignore_conflicts=True)
    counter = ReceiptCounter.objects.select_for_update().get(site=site)
    counter.last_number += 1
    counter.save(update_fields=["last_number"])
    return Receipt.objects.create(
        site=site,
        number=counter.last_number,
        kind=kind,
        patron=patron,
        patron_name=patron.display_name,
        patron_barcode=patron.barcode or "",
        operator=actor,
        operator_name=actor.display_name,
        payment_method=method,
        total=total,
        tendered=tendered,
        change_due=change_due,
        cash_session=session,
        undoes=undoes,
    )


def _print_lines(receipt: Receipt, fees: list[Fee], amounts: dict[int, Decimal]) -> None:
    """The receipt's lines as printed: what each fee took (`amounts`, by fee id) and what it
    still owes."""
    receipt.printed_lines = [
        {
            "type": fee.fee_type.name,
            "barcode": fee.item_barcode,
            "amount": str(amounts[fee.pk]),
            "left": str(fee.remaining),
        }
        for fee in fees
        if fee.pk in amounts
    ]
    receipt.save(update_fields=["printed_lines"])


def _append(fee: Fee, kind, amount, actor, **fields) -> FeeTransaction:
    """One ledger line for `fee`, whose `remaining` (and status) the caller has set: the
    fee is saved with it, closed when nothing remains."""
    if fee.remaining == 0:
        fee.status = Fee.Status.CLOSED
    if fee.status != fee.locked_status:
        fee.status_at = timezone.now()
        fee.locked_status = fee.status
    fee.save(update_fields=["remaining", "status", "status_at"])
    return _line(fee, kind, amount, actor, **fields)


def _line(fee: Fee, kind, amount, actor, **fields) -> FeeTransaction:
    return FeeTransaction.objects.create(
        fee=fee,
        kind=kind,
        amount=amount,
        balance_after=fee.remaining,
        by=actor,
        by_name=actor.display_name,
        **fields,
    )


def _refresh(balance: Balance) -> Balance:
    """The patron's balance, summed again from their fees (under the balance row's lock),
    and their standing against the debt limit read back in the same transaction: if that
    cannot be read, the change fails with it (the block never fails open)."""
    sums = balance_sums(Fee.objects.filter(patron_id=balance.patron_id))
    Balance.objects.filter(pk=balance.pk).update(**sums)
    for name, value in sums.items():
        setattr(balance, name, value)
    balance.standing = debt.standing_of(balance.patron_id)
    return balance


def balance_sums(fees) -> dict[str, Decimal]:
    """The Balance fields as sums of `fees`' remaining amounts (also what check_ledger
    compares the stored balances with)."""
    zero = Decimal("0.00")

    def total(condition):
        return Coalesce(Sum("remaining", filter=condition), zero)

    owed = Q(is_credit=False)
    return fees.aggregate(
        active=total(owed & Q(status=Fee.Status.ACTIVE)),
        disputed=total(owed & Q(status=Fee.Status.DISPUTED)),
        transferred=total(owed & Q(status=Fee.Status.TRANSFERRED)),
        credit=total(Q(is_credit=True, status=Fee.Status.ACTIVE)),
    )


def _log(actor, patron, fee, kind, amount, **details) -> None:
    log.record(
        log.Kind.FEE,
        operator=actor,
        patron=patron,
        obj=fee,
        site=fee.owner_site,
        details={"fee": str(kind), "amount": str(amount), "type": fee.fee_type.name, **details},
    )


def _log_many(actor, patron, fees, kind, amount, *, receipt=None, **details) -> None:
    if receipt is not None:
        details["receipt"] = receipt.label
    log.record(
        log.Kind.FEE,
        operator=actor,
        patron=patron,
        obj=fees[0] if len(fees) == 1 else None,
        site=fees[0].owner_site if fees else None,
        details={"fee": str(kind), "amount": str(amount), "fees": [f.pk for f in fees], **details},
    )
