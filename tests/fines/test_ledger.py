"""The fines services at every limit: what they record, what they refuse (and that a
refusal leaves nothing behind), who may call them, the one-time key, the debt limit and
what the database itself refuses."""

import csv
import io
import uuid
from decimal import Decimal as D

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from fines import debt, services
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
from fines.money import NOT_A_NUMBER, NOT_POSITIVE, TOO_LARGE, TOO_MANY_DECIMALS, format_money
from fines.services import ledger
from patrons import system_blocks
from patrons.models import Patron, PatronType
from security.models import Level, OperatorAction, Preferences
from tests.factories import OperatorFactory, PatronFactory

pytestmark = pytest.mark.django_db


# --- helpers shared by the ledger tests ----------------------------------------------------


def key():
    return uuid.uuid4()


def fee_type(code="LOST") -> FeeType:
    return FeeType.objects.get(code=code)


def method(code="CARD") -> PaymentMethod:
    return PaymentMethod.objects.get(code=code)


def reason() -> WaiveReason:
    return WaiveReason.objects.get(code="STAFF-ERROR")


def charge(actor, patron, amount, *, site=None, code="LOST") -> Fee:
    return services.fee_add(
        actor=actor,
        patron=patron,
        key=key(),
        fee_type=fee_type(code),
        owner_site=site or patron.home_site,
        amount=D(amount),
    )


def credit(actor, patron, amount, *, site=None, comment="Paid twice") -> Fee:
    return services.credit_add(
        actor=actor,
        patron=patron,
        key=key(),
        fee_type=fee_type("CREDIT"),
        owner_site=site or patron.home_site,
        amount=D(amount),
        comment=comment,
    )


def pay(actor, patron, fees, amount, *, how="CARD", tendered=None, site=None):
    return services.fees_pay(
        actor=actor,
        patron=patron,
        key=key(),
        fee_ids=[f.pk for f in fees],
        amount=D(amount),
        method=method(how),
        site=site or patron.home_site,
        tendered=None if tendered is None else D(tendered),
    )


def waive(actor, patron, fees, amount=None):
    return services.fees_waive(
        actor=actor,
        patron=patron,
        key=key(),
        fee_ids=[f.pk for f in fees],
        reason=reason(),
        amount=None if amount is None else D(amount),
    )


def dispute(actor, patron, fees):
    return services.fees_dispute(
        actor=actor, patron=patron, key=key(), fee_ids=[f.pk for f in fees]
    )


def restore(actor, patron, fees):
    return services.fees_restore(
        actor=actor, patron=patron, key=key(), fee_ids=[f.pk for f in fees]
    )


def refund(actor, patron, payment, amount):
    return services.payment_refund(
        actor=actor, patron=patron, key=key(), payment_id=payment.pk, amount=D(amount)
    )


def transfer(actor, patron, fees):
    return services.fees_transfer(
        actor=actor, patron=patron, key=key(), fee_ids=[f.pk for f in fees]
    )


def reverse(actor, patron, export):
    return services.transfer_reverse(actor=actor, patron=patron, key=key(), export_id=export.pk)


def payment_of(fee) -> FeeTransaction:
    return fee.transactions.filter(kind=FeeTransaction.Kind.PAYMENT).latest("pk")


def fresh(fee) -> Fee:
    return Fee.objects.get(pk=fee.pk)


def balance(patron) -> Balance:
    return Balance.objects.get(pk=patron.pk)


def ledger_state():
    """Everything a fines action writes: equal before and after means nothing changed."""
    return (
        list(Fee.objects.order_by("pk").values_list("pk", "remaining", "status", "status_at")),
        list(FeeTransaction.objects.order_by("pk").values_list("pk", "kind", "amount")),
        list(
            Balance.objects.order_by("pk").values_list(
                "pk", "active", "disputed", "transferred", "credit"
            )
        ),
        list(MoneyRequest.objects.order_by("key").values_list("key", "receipt")),
        list(Receipt.objects.order_by("pk").values_list("pk", "number", "total")),
        list(ReceiptCounter.objects.order_by("pk").values_list("pk", "last_number")),
        list(BursarExport.objects.order_by("pk").values_list("pk", "reversed_at")),
        OperatorAction.objects.filter(action=OperatorAction.Kind.FEE).count(),
    )


def refused(call, field, message=None):
    """Run `call`, expecting a ValidationError on `field` (and `message`) and no change."""
    before = ledger_state()
    with pytest.raises(ValidationError) as caught:
        call()
    errors = (
        caught.value.message_dict
        if hasattr(caught.value, "error_dict")
        else {None: caught.value.messages}
    )
    assert field in errors, errors
    if message is not None:
        assert errors[field] == [message]
    assert ledger_state() == before
    return errors[field][0]


def denied(call):
    before = ledger_state()
    with pytest.raises(PermissionDenied):
        call()
    assert ledger_state() == before


def open_cash(actor, site, opening_float="20.00") -> CashSession:
    return services.cash_session_open(actor=actor, site=site, opening_float=D(opening_float))


def set_waive_limit(limit: int) -> None:
    Preferences.objects.filter(pk=Preferences.SINGLETON_ID).update(most_fees_waived_at_once=limit)


# --- adding fees and credits ---------------------------------------------------------------


def test_the_smallest_fee_is_one_cent(librarian, patron):
    fee = charge(librarian, patron, "0.01")
    assert (fee.original_amount, fresh(fee).remaining, fresh(fee).status) == (
        D("0.01"),
        D("0.01"),
        Fee.Status.ACTIVE,
    )
    line = fee.transactions.get()
    assert (line.kind, line.amount, line.balance_after) == ("charge", D("0.01"), D("0.01"))
    assert balance(patron).active == D("0.01") and balance(patron).net == D("0.01")


def test_the_largest_fee_is_999999_99(librarian, patron):
    assert charge(librarian, patron, "999999.99").remaining == D("999999.99")


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (D("0"), NOT_POSITIVE),
        (D("0.00"), NOT_POSITIVE),
        (D("-0.01"), NOT_POSITIVE),
        (D("-5"), NOT_POSITIVE),
        (D("1.005"), TOO_MANY_DECIMALS),
        (D("0.001"), TOO_MANY_DECIMALS),
        ("abc", NOT_A_NUMBER),
        ("", NOT_A_NUMBER),
        (None, NOT_A_NUMBER),
        (D("NaN"), NOT_A_NUMBER),
        (D("sNaN"), NOT_A_NUMBER),
        (D("Infinity"), NOT_A_NUMBER),
        (D("-Infinity"), NOT_A_NUMBER),
        (D("1000000.00"), TOO_LARGE.format(max=format_money(D("999999.99")))),
        (D("1E+12"), TOO_LARGE.format(max=format_money(D("999999.99")))),
    ],
)
def test_a_fee_of_a_refused_amount_writes_nothing(librarian, patron, amount, message):
    key_used = key()
    refused(
        lambda: services.fee_add(
            actor=librarian,
            patron=patron,
            key=key_used,
            fee_type=fee_type(),
            owner_site=patron.home_site,
            amount=amount,
        ),
        "amount",
        message,
    )
    assert not Fee.objects.exists()
    assert not Balance.objects.exists()
    # The refused form's key was not spent: corrected, the same form goes through.
    fee = services.fee_add(
        actor=librarian,
        patron=patron,
        key=key_used,
        fee_type=fee_type(),
        owner_site=patron.home_site,
        amount=D("4.00"),
    )
    assert fee.remaining == D("4.00")


def test_a_refused_fee_leaves_an_existing_balance_as_it_was(librarian, patron):
    charge(librarian, patron, "3.00")
    refused(lambda: charge(librarian, patron, "-1"), "amount", NOT_POSITIVE)
    assert balance(patron).active == D("3.00")


def test_a_fee_of_a_credit_type_is_refused(librarian, patron):
    refused(
        lambda: charge(librarian, patron, "5.00", code="CREDIT"), "fee_type", ledger.A_CREDIT_TYPE
    )


def test_a_credit_is_shown_negative_and_lowers_the_net_balance(librarian, patron):
    charge(librarian, patron, "10.00")
    given = credit(librarian, patron, "4.00")
    assert given.is_credit and given.signed_remaining == D("-4.00")
    assert given.signed_original == D("-4.00")
    assert given.transactions.get().kind == FeeTransaction.Kind.CREDIT
    assert (balance(patron).active, balance(patron).credit, balance(patron).net) == (
        D("10.00"),
        D("4.00"),
        D("6.00"),
    )
    credit(librarian, patron, "7.00")
    assert balance(patron).net == D("-1.00")  # the library owes the patron


@pytest.mark.parametrize("comment", ["", "   "])
def test_a_credit_needs_a_comment(librarian, patron, comment):
    refused(
        lambda: credit(librarian, patron, "4.00", comment=comment),
        "comment",
        ledger.CREDIT_COMMENT_REQUIRED,
    )
    assert not Fee.objects.exists()


def test_a_credit_of_a_charge_type_is_refused(librarian, patron):
    refused(
        lambda: services.credit_add(
            actor=librarian,
            patron=patron,
            key=key(),
            fee_type=fee_type("LOST"),
            owner_site=patron.home_site,
            amount=D("4.00"),
            comment="Overpaid",
        ),
        "fee_type",
        ledger.NOT_A_CREDIT_TYPE,
    )


@pytest.mark.parametrize("amount", [D("0"), D("-4"), D("0.005"), D("NaN"), D("1000000")])
def test_a_credit_of_a_refused_amount_writes_nothing(librarian, patron, amount):
    refused(lambda: credit(librarian, patron, amount), "amount")


# --- paying --------------------------------------------------------------------------------


def test_paying_exactly_what_is_owed_closes_every_fee(librarian, patron):
    fees = [charge(librarian, patron, "2.50"), charge(librarian, patron, "7.50")]
    outcome = pay(librarian, patron, fees, "10.00")
    for fee in fees:
        assert (fresh(fee).remaining, fresh(fee).status) == (D("0.00"), Fee.Status.CLOSED)
        assert payment_of(fee).balance_after == D("0.00")
    assert outcome.receipt.total == D("10.00") and outcome.receipt.number == 1
    assert outcome.receipt.kind == Receipt.Kind.PAYMENT
    assert [line["left"] for line in outcome.receipt.printed_lines] == ["0.00", "0.00"]
    assert balance(patron).active == D("0.00")


def test_paying_a_cent_more_than_owed_is_refused(librarian, patron):
    fees = [charge(librarian, patron, "2.50"), charge(librarian, patron, "7.50")]
    message = ledger.MORE_THAN_OWED.format(total=format_money(D("10.00")))
    refused(lambda: pay(librarian, patron, fees, "10.01"), "amount", message)


def test_a_payment_is_spent_on_the_oldest_fee_first(librarian, patron):
    first, second, third = (charge(librarian, patron, a) for a in ("5.00", "3.00", "4.00"))
    # The newest row is the oldest fee: the order is the fees' dates, not their ids.
    Fee.objects.filter(pk=third.pk).update(created_at=timezone.now() - timezone.timedelta(days=9))
    Fee.objects.filter(pk=first.pk).update(created_at=timezone.now() - timezone.timedelta(days=5))
    outcome = pay(librarian, patron, [second, first, third], "6.50")
    assert fresh(third).remaining == D("0.00") and fresh(third).status == Fee.Status.CLOSED
    assert fresh(first).remaining == D("2.50") and fresh(first).status == Fee.Status.ACTIVE
    assert fresh(second).remaining == D("3.00")
    assert not second.transactions.filter(kind="payment").exists()
    assert dict(outcome.receipt.lines.values_list("fee_id", "amount")) == {
        third.pk: D("4.00"),
        first.pk: D("2.50"),
    }
    assert balance(patron).active == D("5.50")


@pytest.mark.parametrize("state", ["disputed", "closed", "transferred", "credit"])
def test_only_active_fees_can_be_paid(librarian, patron, state):
    payable = charge(librarian, patron, "5.00")
    if state == "credit":
        other = credit(librarian, patron, "5.00")
    else:
        other = charge(librarian, patron, "5.00")
    if state == "disputed":
        dispute(librarian, patron, [other])
    elif state == "transferred":
        transfer(librarian, patron, [other])
    elif state == "closed":
        pay(librarian, patron, [other], "5.00")
    message = refused(lambda: pay(librarian, patron, [payable, other], "1.00"), "fees")
    assert message.startswith("Only active fees can be paid")
    assert fresh(payable).remaining == D("5.00")


def test_a_fee_of_another_patron_cannot_be_paid(librarian, patron, ams):
    other = PatronFactory(home_site=ams)
    theirs = charge(librarian, other, "5.00")
    refused(lambda: pay(librarian, patron, [theirs], "5.00"), "fees", ledger.FEE_GONE)
    refused(lambda: pay(librarian, patron, [], "5.00"), "fees", ledger.NO_FEES_CHOSEN)


def test_cash_needs_an_open_cash_session(librarian, patron):
    fee = charge(librarian, patron, "5.00")
    refused(
        lambda: pay(librarian, patron, [fee], "5.00", how="CASH", tendered="5.00"),
        "payment_method",
        ledger.NO_CASH_SESSION,
    )


def test_cash_below_the_payment_is_refused(librarian, patron, ams):
    fee = charge(librarian, patron, "5.00")
    open_cash(librarian, ams)
    message = ledger.TENDERED_TOO_LOW.format(
        tendered=format_money(D("4.99")), amount=format_money(D("5.00"))
    )
    refused(
        lambda: pay(librarian, patron, [fee], "5.00", how="CASH", tendered="4.99"),
        "tendered",
        message,
    )
    refused(
        lambda: pay(librarian, patron, [fee], "5.00", how="CASH"),
        "tendered",
        ledger.TENDERED_REQUIRED,
    )


def test_cash_gives_change_and_belongs_to_the_session(librarian, patron, ams, jes):
    fee = charge(librarian, patron, "3.40")
    session = open_cash(librarian, ams, "20.00")
    outcome = pay(librarian, patron, [fee], "3.40", how="CASH", tendered="5.00", site=jes)
    receipt = outcome.receipt
    assert (receipt.tendered, receipt.change_due) == (D("5.00"), D("1.60"))
    assert receipt.cash_session == session and receipt.site == ams  # the drawer's site
    assert services.expected_cash(session) == D("23.40")
    exact = charge(librarian, patron, "2.00")
    assert (
        pay(librarian, patron, [exact], "2.00", how="CASH", tendered="2.00").receipt.change_due == 0
    )


# --- waiving -------------------------------------------------------------------------------


def test_a_waive_in_full_closes_the_fees(librarian, patron):
    fees = [charge(librarian, patron, "5.00"), charge(librarian, patron, "2.00")]
    waive(librarian, patron, fees)
    assert [fresh(f).status for f in fees] == [Fee.Status.CLOSED] * 2
    lines = FeeTransaction.objects.filter(kind="waive")
    assert sorted(lines.values_list("amount", flat=True)) == [D("2.00"), D("5.00")]
    assert all(line.waive_reason == reason() for line in lines)
    assert balance(patron).active == 0


def test_a_partial_waive_takes_the_oldest_first(librarian, patron):
    older, newer = charge(librarian, patron, "5.00"), charge(librarian, patron, "2.00")
    waive(librarian, patron, [newer, older], "6.00")
    assert fresh(older).status == Fee.Status.CLOSED
    assert (fresh(newer).remaining, fresh(newer).status) == (D("1.00"), Fee.Status.ACTIVE)
    message = ledger.MORE_THAN_OWED.format(total=format_money(D("1.00")))
    refused(lambda: waive(librarian, patron, [newer], "1.01"), "amount", message)
    refused(lambda: waive(librarian, patron, [newer], "0"), "amount", NOT_POSITIVE)


def test_the_preference_limits_the_fees_waived_at_once(librarian, patron):
    set_waive_limit(2)
    fees = [charge(librarian, patron, "1.00") for _ in range(3)]
    message = ledger.TOO_MANY_TO_WAIVE.format(limit=2, count=3)
    refused(lambda: waive(librarian, patron, fees), "fees", message)
    waive(librarian, patron, fees[:2])
    assert [fresh(f).status for f in fees] == ["closed", "closed", "active"]


def test_the_waive_limit_counts_distinct_fees(librarian, patron):
    set_waive_limit(2)
    fees = [charge(librarian, patron, "1.00") for _ in range(2)]
    waive(librarian, patron, fees + fees)  # the same two, chosen twice
    assert FeeTransaction.objects.filter(kind="waive").count() == 2


def test_a_disputed_fee_may_be_waived(librarian, patron):
    fee = charge(librarian, patron, "5.00")
    dispute(librarian, patron, [fee])
    waive(librarian, patron, [fee], "2.00")
    assert (fresh(fee).remaining, fresh(fee).status) == (D("3.00"), Fee.Status.DISPUTED)
    assert (balance(patron).disputed, balance(patron).active) == (D("3.00"), D("0.00"))
    waive(librarian, patron, [fee])
    assert fresh(fee).status == Fee.Status.CLOSED and balance(patron).disputed == 0


@pytest.mark.parametrize("state", ["closed", "transferred"])
def test_closed_and_transferred_fees_cannot_be_waived(librarian, patron, state):
    fee = charge(librarian, patron, "5.00")
    (waive if state == "closed" else transfer)(librarian, patron, [fee])
    message = refused(lambda: waive(librarian, patron, [fee]), "fees")
    assert message.startswith("Only active or disputed fees can be waived")


# --- dispute and restore -------------------------------------------------------------------


def test_a_dispute_takes_the_fee_out_of_the_active_balance_and_restore_puts_it_back(
    librarian, patron
):
    fee = charge(librarian, patron, "5.00")
    dispute(librarian, patron, [fee])
    assert fresh(fee).status == Fee.Status.DISPUTED and fresh(fee).remaining == D("5.00")
    assert (balance(patron).active, balance(patron).disputed, balance(patron).net) == (
        0,
        D("5.00"),
        0,
    )
    restore(librarian, patron, [fee])
    assert fresh(fee).status == Fee.Status.ACTIVE
    assert (balance(patron).active, balance(patron).disputed) == (D("5.00"), 0)
    kinds = list(fee.transactions.order_by("pk").values_list("kind", "amount", "balance_after"))
    assert kinds == [
        ("charge", D("5.00"), D("5.00")),
        ("dispute", D("5.00"), D("5.00")),
        ("restore", D("5.00"), D("5.00")),
    ]


def test_dispute_and_restore_follow_the_status(librarian, patron):
    fee = charge(librarian, patron, "5.00")
    refused(lambda: restore(librarian, patron, [fee]), "fees")
    dispute(librarian, patron, [fee])
    assert refused(lambda: dispute(librarian, patron, [fee]), "fees").startswith(
        "Only active fees can be disputed"
    )
    closed = charge(librarian, patron, "1.00")
    waive(librarian, patron, [closed])
    refused(lambda: dispute(librarian, patron, [closed]), "fees")
    refused(lambda: restore(librarian, patron, [closed]), "fees")
    given = credit(librarian, patron, "1.00")
    refused(lambda: dispute(librarian, patron, [given]), "fees")
    moved = charge(librarian, patron, "1.00")
    transfer(librarian, patron, [moved])
    refused(lambda: dispute(librarian, patron, [moved]), "fees")
    refused(lambda: restore(librarian, patron, [moved]), "fees")


# --- refunds -------------------------------------------------------------------------------


def test_a_payment_is_refunded_in_parts_up_to_what_was_paid(librarian, patron):
    fee = charge(librarian, patron, "10.00")
    paid = pay(librarian, patron, [fee], "8.00")
    payment = payment_of(fee)
    first = refund(librarian, patron, payment, "3.00")
    assert first.receipt.kind == Receipt.Kind.REFUND and first.receipt.undoes == paid.receipt
    assert first.receipt.total == D("3.00") and first.receipt.number == 2
    message = ledger.MORE_THAN_PAID.format(total=format_money(D("5.00")))
    refused(lambda: refund(librarian, patron, payment, "5.01"), "amount", message)
    refund(librarian, patron, payment, "5.00")
    message = ledger.MORE_THAN_PAID.format(total=format_money(D("0.00")))
    refused(lambda: refund(librarian, patron, payment, "0.01"), "amount", message)
    # The money went back; the debt did not come back.
    assert (fresh(fee).remaining, fresh(fee).status) == (D("2.00"), Fee.Status.ACTIVE)
    assert balance(patron).active == D("2.00")
    refunds = payment.refunds.order_by("pk")
    assert [(r.amount, r.balance_after) for r in refunds] == [
        (D("3.00"), D("2.00")),
        (D("5.00"), D("2.00")),
    ]


def test_a_refund_of_a_closed_fee_leaves_it_closed(librarian, patron):
    fee = charge(librarian, patron, "4.00")
    pay(librarian, patron, [fee], "4.00")
    refund(librarian, patron, payment_of(fee), "4.00")
    assert (fresh(fee).remaining, fresh(fee).status) == (D("0.00"), Fee.Status.CLOSED)


def test_a_refund_over_the_payment_at_once_is_refused(librarian, patron):
    fee = charge(librarian, patron, "4.00")
    pay(librarian, patron, [fee], "4.00")
    refused(lambda: refund(librarian, patron, payment_of(fee), "4.01"), "amount")
    refused(lambda: refund(librarian, patron, payment_of(fee), "0"), "amount", NOT_POSITIVE)


def test_only_a_payment_of_this_patron_is_refunded(librarian, patron, ams):
    fee = charge(librarian, patron, "4.00")
    other = PatronFactory(home_site=ams)
    refused(lambda: refund(librarian, other, fee.transactions.get(), "1.00"), "payment")
    pay(librarian, patron, [fee], "4.00")
    refused(lambda: refund(librarian, other, payment_of(fee), "1.00"), "payment")
    refused(
        lambda: services.payment_refund(
            actor=librarian, patron=patron, key=key(), payment_id="x", amount=D("1")
        ),
        "payment",
        ledger.NOT_A_PAYMENT,
    )


def test_a_cash_refund_comes_out_of_the_drawer(librarian, patron, ams):
    fee = charge(librarian, patron, "4.00")
    session = open_cash(librarian, ams, "10.00")
    pay(librarian, patron, [fee], "4.00", how="CASH", tendered="4.00")
    services.cash_session_close(actor=librarian, session=session, counted=D("14.00"))
    refused(
        lambda: refund(librarian, patron, payment_of(fee), "1.00"),
        "payment_method",
        ledger.NO_CASH_SESSION,
    )
    second = open_cash(librarian, ams, "10.00")
    refund(librarian, patron, payment_of(fee), "1.00")
    assert services.expected_cash(second) == D("9.00")


# --- the bursar ----------------------------------------------------------------------------


def test_a_transfer_leaves_the_active_balance_and_a_reverse_brings_it_back(librarian, patron):
    fee, kept = charge(librarian, patron, "6.00"), charge(librarian, patron, "1.00")
    outcome = transfer(librarian, patron, [fee])
    assert fresh(fee).status == Fee.Status.TRANSFERRED and fresh(fee).remaining == D("6.00")
    assert (balance(patron).active, balance(patron).transferred, balance(patron).net) == (
        D("1.00"),
        D("6.00"),
        D("1.00"),
    )
    assert outcome.export.total == D("6.00") and f"{fee.pk}," in outcome.export.csv
    refused(lambda: transfer(librarian, patron, [fee]), "fees")
    reverse(librarian, patron, outcome.export)
    assert fresh(fee).status == Fee.Status.ACTIVE
    assert (balance(patron).active, balance(patron).transferred) == (D("7.00"), 0)
    refused(lambda: reverse(librarian, patron, outcome.export), None, ledger.EXPORT_REVERSED)
    assert fresh(kept).status == Fee.Status.ACTIVE


def test_a_transfer_of_another_patron_cannot_be_reversed(librarian, patron, ams):
    other = PatronFactory(home_site=ams)
    export = transfer(librarian, other, [charge(librarian, other, "2.00")]).export
    refused(lambda: reverse(librarian, patron, export), None, ledger.EXPORT_GONE)


def test_disputed_and_credit_fees_cannot_be_transferred(librarian, patron):
    fee = charge(librarian, patron, "6.00")
    dispute(librarian, patron, [fee])
    refused(lambda: transfer(librarian, patron, [fee]), "fees")
    given = credit(librarian, patron, "1.00")
    refused(lambda: transfer(librarian, patron, [given]), "fees")


def test_a_bursar_file_cell_never_starts_a_formula(librarian, ams):
    debtor = PatronFactory(home_site=ams, first_name="=HYPERLINK(1)", last_name="x")
    fee = services.fee_add(
        actor=librarian,
        patron=debtor,
        key=key(),
        fee_type=fee_type(),
        owner_site=ams,
        amount=D("2.00"),
        item_barcode="@SUM(A1)",
    )
    rows = list(csv.reader(io.StringIO(transfer(librarian, debtor, [fee]).export.csv)))
    assert rows[0] == ledger.BURSAR_COLUMNS
    assert [cell for cell in rows[1] if cell.startswith(("=", "+", "-", "@"))] == []
    assert "'=HYPERLINK(1) x" in rows[1] and "'@SUM(A1)" in rows[1]


# --- the debt limit ------------------------------------------------------------------------


@pytest.fixture
def student():
    return PatronType.objects.create(code="STUDENT", name="Student", debt_limit=D("10.00"))


@pytest.fixture
def debtor(ams, student):
    return PatronFactory(home_site=ams, patron_type=student)


def blocked_in_sql(patrons) -> set[int]:
    return set(
        Patron.objects.filter(debt.condition(), pk__in=[p.pk for p in patrons]).values_list(
            "pk", flat=True
        )
    )


def test_a_patron_is_blocked_exactly_at_the_limit(librarian, debtor):
    fee = charge(librarian, debtor, "9.99")
    assert debt.blocks(debtor) == [] and blocked_in_sql([debtor]) == set()
    charge(librarian, debtor, "0.01")
    found = debt.blocks(debtor)
    assert [b.label for b in found] == [debt.LABEL]
    assert found[0].reason == "Owes $10.00 of a $10.00 limit."
    assert blocked_in_sql([debtor]) == {debtor.pk}
    assert debt.KEY in [b.key for b in system_blocks.blocks_of(debtor)]
    pay(librarian, debtor, [fee], "0.01")
    assert debt.blocks(debtor) == [] and blocked_in_sql([debtor]) == set()
    assert debt.KEY not in [b.key for b in system_blocks.blocks_of(debtor)]


def test_disputed_and_transferred_amounts_do_not_count(librarian, debtor):
    counted = charge(librarian, debtor, "9.00")
    argued, sent = charge(librarian, debtor, "5.00"), charge(librarian, debtor, "5.00")
    assert debt.blocks(debtor)
    dispute(librarian, debtor, [argued])
    transfer(librarian, debtor, [sent])
    assert debt.blocks(debtor) == []
    charge(librarian, debtor, "1.00")
    (block,) = debt.blocks(debtor)
    assert "$5.00 in dispute not counted" in block.reason
    assert "$5.00 transferred to the bursar not counted" in block.reason
    restore(librarian, debtor, [argued])
    assert debt.standing(debtor).net == D("15.00")
    waive(librarian, debtor, [counted, argued])
    assert debt.blocks(debtor) == []


def test_a_credit_lifts_the_block(librarian, debtor):
    charge(librarian, debtor, "12.00")
    assert debt.blocks(debtor)
    credit(librarian, debtor, "2.00")
    assert debt.blocks(debtor)  # net 10.00: still at the limit
    credit(librarian, debtor, "0.01")
    assert debt.blocks(debtor) == [] and blocked_in_sql([debtor]) == set()


def test_a_change_of_limit_or_type_counts_at_once(librarian, debtor, student):
    charge(librarian, debtor, "8.00")
    assert debt.blocks(debtor) == []
    PatronType.objects.filter(pk=student.pk).update(debt_limit=D("8.00"))
    assert debt.blocks(debtor) and blocked_in_sql([debtor]) == {debtor.pk}
    PatronType.objects.filter(pk=student.pk).update(debt_limit=None)
    assert debt.blocks(debtor) == [] and blocked_in_sql([debtor]) == set()
    strict = PatronType.objects.create(code="STRICT", name="Strict", debt_limit=D("5.00"))
    Patron.objects.filter(pk=debtor.pk).update(patron_type=strict)
    assert debt.blocks(debtor) and blocked_in_sql([debtor]) == {debtor.pk}
    Patron.objects.filter(pk=debtor.pk).update(patron_type=None)
    assert debt.blocks(debtor) == [] and blocked_in_sql([debtor]) == set()


def test_the_sql_condition_agrees_with_blocks(librarian, ams, student):
    limitless = PatronType.objects.create(code="STAFF", name="Staff")
    cases = [
        (student, []),
        (student, ["9.99"]),
        (student, ["10.00"]),
        (student, ["4.00", "6.00"]),
        (student, ["30.00", "-20.00"]),
        (student, ["30.00", "-20.01"]),
        (student, ["-5.00"]),
        (limitless, ["500.00"]),
        (None, ["500.00"]),
        (None, []),
    ]
    patrons = []
    for patron_type, amounts in cases:
        someone = PatronFactory(home_site=ams, patron_type=patron_type)
        for amount in amounts:
            if amount.startswith("-"):
                credit(librarian, someone, amount[1:])
            else:
                charge(librarian, someone, amount)
        patrons.append(someone)
    expected = {p.pk for p in patrons if debt.blocks(p)}
    assert blocked_in_sql(patrons) == expected
    assert len(expected) == 3  # 10.00, 4.00 + 6.00, 30.00 - 20.00


# --- the one-time key ----------------------------------------------------------------------


def test_a_form_submitted_twice_is_recorded_once(librarian, patron):
    fee = charge(librarian, patron, "5.00")
    once = key()

    def submit():
        return services.fees_pay(
            actor=librarian,
            patron=patron,
            key=once,
            fee_ids=[fee.pk],
            amount=D("2.00"),
            method=method(),
            site=patron.home_site,
        )

    first = submit()
    before = ledger_state()
    with pytest.raises(services.AlreadyDone) as caught:
        submit()
    assert caught.value.request.receipt == first.receipt
    assert ledger_state() == before
    assert fee.transactions.filter(kind="payment").count() == 1
    assert fresh(fee).remaining == D("3.00")


def test_a_key_is_spent_for_every_action(librarian, patron):
    fee = charge(librarian, patron, "5.00")
    once = key()
    services.fees_dispute(actor=librarian, patron=patron, key=once, fee_ids=[fee.pk])
    with pytest.raises(services.AlreadyDone):
        services.fees_restore(actor=librarian, patron=patron, key=once, fee_ids=[fee.pk])
    assert fresh(fee).status == Fee.Status.DISPUTED


def test_a_key_of_another_operator_or_patron_is_refused(librarian, library_admin, patron, ams):
    fee = charge(librarian, patron, "5.00")
    theirs = key()
    services.fees_dispute(actor=library_admin, patron=patron, key=theirs, fee_ids=[fee.pk])
    restoring = lambda: services.fees_restore(  # noqa: E731
        actor=librarian, patron=patron, key=theirs, fee_ids=[fee.pk]
    )
    refused(restoring, None, ledger.KEY_USED)
    other = PatronFactory(home_site=ams)
    refused(
        lambda: services.fee_add(
            actor=library_admin,
            patron=other,
            key=theirs,
            fee_type=fee_type(),
            owner_site=ams,
            amount=D("1.00"),
        ),
        None,
        ledger.KEY_USED,
    )
    refused(
        lambda: services.fee_add(
            actor=librarian,
            patron=patron,
            key="not a key",
            fee_type=fee_type(),
            owner_site=ams,
            amount=D("1.00"),
        ),
        None,
        ledger.KEY_USED,
    )


# --- what the database refuses, whatever the code does ----------------------------------------


def raw(sql, params=()):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_ledger_lines_cannot_be_changed(librarian, patron):
    fee = charge(librarian, patron, "5.00")
    for sql in (
        "UPDATE fines_feetransaction SET amount = 1",
        "UPDATE fines_feetransaction SET balance_after = 0, kind = 'waive'",
    ):
        with pytest.raises(DatabaseError):
            raw(sql)
    assert fee.transactions.get().amount == D("5.00")


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE fines_fee SET remaining = -1",
        "UPDATE fines_fee SET remaining = original_amount + 1",
        "UPDATE fines_fee SET remaining = 0",  # not closed
        "UPDATE fines_fee SET status = 'closed'",  # something remains
        "UPDATE fines_fee SET original_amount = 0, remaining = 0, status = 'closed'",
        "UPDATE fines_balance SET active = -0.01",
        "UPDATE fines_balance SET credit = -1",
        "UPDATE fines_receipt SET total = 0",
        "UPDATE fines_receipt SET change_due = -1",
        "UPDATE fines_receiptcounter SET last_number = -1",
    ],
)
def test_constraints_hold_against_raw_sql(librarian, patron, sql):
    fee = charge(librarian, patron, "5.00")
    pay(librarian, patron, [fee], "1.00")
    before = ledger_state()
    with pytest.raises(IntegrityError):
        raw(sql)
    assert ledger_state() == before


@pytest.mark.parametrize(
    "line",
    [
        {"kind": "payment", "amount": D("1.00"), "balance_after": D("3.00")},  # no receipt
        {"kind": "waive", "amount": D("1.00"), "balance_after": D("3.00")},  # no reason
        {"kind": "charge", "amount": D("0.00"), "balance_after": D("4.00")},
        {"kind": "charge", "amount": D("1.00"), "balance_after": D("-1.00")},
    ],
)
def test_a_ledger_line_missing_what_it_needs_is_refused(librarian, patron, line):
    fee = charge(librarian, patron, "4.00")
    with pytest.raises(IntegrityError), transaction.atomic():
        FeeTransaction.objects.create(fee=fee, **line)


def test_a_refund_line_must_name_its_payment(librarian, patron):
    fee = charge(librarian, patron, "4.00")
    receipt = pay(librarian, patron, [fee], "4.00").receipt
    with pytest.raises(IntegrityError), transaction.atomic():
        FeeTransaction.objects.create(
            fee=fee, kind="refund", amount=D("1.00"), balance_after=0, receipt=receipt
        )


def test_receipt_numbers_are_unique_per_site(librarian, patron):
    receipt = pay(librarian, patron, [charge(librarian, patron, "4.00")], "4.00").receipt
    with pytest.raises(IntegrityError), transaction.atomic():
        Receipt.objects.create(
            site=receipt.site,
            number=receipt.number,
            kind="payment",
            patron_name="x",
            operator_name="y",
            payment_method=receipt.payment_method,
            total=D("1.00"),
        )


# --- who may do what (the policy, asked by the services) ------------------------------------

ACTIONS = ["add", "credit", "pay", "waive", "dispute", "restore", "refund", "transfer", "reverse"]


@pytest.fixture
def desk(district_admin):
    """A patron's fees in every state, made by a District Administrator, and the action
    of each kind an operator might try on them."""

    def build(patron, owner_site=None):
        site = owner_site or patron.home_site
        active = charge(district_admin, patron, "10.00", site=site)
        paid = charge(district_admin, patron, "8.00", site=site)
        pay(district_admin, patron, [paid], "3.00", site=patron.home_site)
        argued = charge(district_admin, patron, "4.00", site=site)
        dispute(district_admin, patron, [argued])
        sent = charge(district_admin, patron, "6.00", site=site)
        export = transfer(district_admin, patron, [sent]).export
        return {
            "add": lambda actor: charge(actor, patron, "5.00", site=site),
            "credit": lambda actor: credit(actor, patron, "2.00", site=site),
            "pay": lambda actor: pay(actor, patron, [active], "1.00", site=patron.home_site),
            "waive": lambda actor: waive(actor, patron, [active], "1.00"),
            "dispute": lambda actor: dispute(actor, patron, [active]),
            "restore": lambda actor: restore(actor, patron, [argued]),
            "refund": lambda actor: refund(actor, patron, payment_of(paid), "1.00"),
            "transfer": lambda actor: transfer(actor, patron, [active]),
            "reverse": lambda actor: reverse(actor, patron, export),
        }

    return build


ALLOWED = {
    "patron": set(),
    "aide": {"pay"},
    "staff": {"add", "pay"},
    "librarian": set(ACTIONS),
    "library_admin": set(ACTIONS),
    "district_admin": set(ACTIONS),
    "operator_at_other_site": set(),
}


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role", list(ALLOWED))
def test_who_may_act_on_a_patrons_fees(request, desk, patron, role, action):
    actor = request.getfixturevalue(role)
    attempt = desk(patron)[action]
    if action in ALLOWED[role]:
        before = ledger_state()
        attempt(actor)
        assert ledger_state() != before
    else:
        denied(lambda: attempt(actor))


@pytest.mark.parametrize("action", ACTIONS)
def test_fees_of_a_librarian_are_for_those_above_librarians(
    desk, librarian, library_admin, ams, action
):
    colleague = OperatorFactory(level=Level.LIBRARIAN, home_site=ams)
    attempt = desk(colleague)[action]
    denied(lambda: attempt(librarian))
    attempt(library_admin)


def test_an_operator_never_acts_on_their_own_fees(desk, librarian, library_admin):
    attempts = desk(librarian)
    for action in ACTIONS:
        denied(lambda action=action: attempts[action](librarian))


@pytest.mark.parametrize("action", ACTIONS)
def test_a_fee_owned_by_another_school_is_for_operators_of_both(
    desk, librarian, operator_at_other_site, district_admin, patron, jes, action
):
    """A JES fee of an AMS patron: the AMS librarian sees the patron but not the owner
    site, the JES librarian the owner site but not the patron; the district both."""
    attempt = desk(patron, owner_site=jes)[action]
    denied(lambda: attempt(librarian))
    denied(lambda: attempt(operator_at_other_site))
    attempt(district_admin)


def test_a_patron_out_of_scope_gets_no_fee(operator_at_other_site, patron, jes):
    denied(lambda: charge(operator_at_other_site, patron, "1.00", site=jes))


def test_a_refused_operator_cannot_tell_a_fee_from_its_state(aide, librarian, patron):
    """Refusals for permission come before refusals for state: an aide cannot probe which
    fees are disputed by trying to waive them."""
    fee = charge(librarian, patron, "1.00")
    dispute(librarian, patron, [fee])
    denied(lambda: waive(aide, patron, [fee]))
    denied(lambda: dispute(aide, patron, [fee]))


def test_the_log_records_each_action(librarian, patron):
    fee = charge(librarian, patron, "5.00")
    outcome = pay(librarian, patron, [fee], "2.00")
    entries = OperatorAction.objects.filter(action=OperatorAction.Kind.FEE, patron=patron)
    details = [entry.details for entry in entries.order_by("pk")]
    assert details[0]["fee"] == "charge" and details[0]["amount"] == "5.00"
    assert details[1]["fee"] == "payment" and details[1]["amount"] == "2.00"
    assert details[1]["receipt"] == outcome.receipt.label
