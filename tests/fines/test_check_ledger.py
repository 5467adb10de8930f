"""`manage.py check_ledger`: silent on a healthy ledger, and names every stored summary
that differs from it."""

import io
from decimal import Decimal as D

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from fines.models import Balance, FeeTransaction
from tests.fines.test_ledger import charge, credit, dispute, pay, payment_of, refund, transfer

pytestmark = pytest.mark.django_db


def check_ledger():
    out, err = io.StringIO(), io.StringIO()
    call_command("check_ledger", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def failing_check():
    err = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("check_ledger", stdout=io.StringIO(), stderr=err)
    assert caught.value.returncode == 1
    return str(caught.value), err.getvalue()


def sql(statement, params=()):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


@pytest.fixture
def ledger(librarian, patron, ams):
    """Fees in every state: paid in part and refunded, disputed, transferred, a credit."""
    paid = charge(librarian, patron, "10.00")
    pay(librarian, patron, [paid], "4.00")
    refund(librarian, patron, payment_of(paid), "1.00")
    dispute(librarian, patron, [charge(librarian, patron, "3.00")])
    transfer(librarian, patron, [charge(librarian, patron, "2.00")])
    credit(librarian, patron, "1.50")
    return paid


def test_a_healthy_ledger_passes(ledger, patron):
    out, err = check_ledger()
    assert out.strip() == "Ledger checked: 4 fees, 1 balances, 0 differences."
    assert err == ""


def test_an_empty_ledger_passes(db):
    assert check_ledger()[0].strip() == "Ledger checked: 0 fees, 0 balances, 0 differences."


def test_a_remaining_amount_that_differs_from_the_ledger_is_named(ledger, patron):
    sql("UPDATE fines_fee SET remaining = 5.00 WHERE id = %s", [ledger.pk])  # within bounds
    summary, err = failing_check()
    assert summary == "Ledger checked: 4 fees, 1 balances, 3 differences."
    assert f"fee {ledger.pk} (patron {patron.pk}): remaining 5.00, ledger sum 6.00" in err
    assert "remaining 5.00, last balance_after 6.00" in err
    assert f"balance of patron {patron.pk}: active 6.00, the fees sum to 5.00" in err


def test_a_balance_that_differs_from_the_fees_is_named(ledger, patron):
    sql("UPDATE fines_balance SET disputed = disputed + 0.01 WHERE patron_id = %s", [patron.pk])
    summary, err = failing_check()
    assert "1 differences" in summary
    assert err.strip() == f"balance of patron {patron.pk}: disputed 3.01, the fees sum to 3.00"


def test_a_missing_balance_row_is_named_when_the_fees_owe(ledger, patron, librarian, ams):
    Balance.objects.filter(patron=patron).delete()
    summary, err = failing_check()
    assert f"balance of patron {patron.pk}: no balance row" in err
    assert "active 6.00, disputed 3.00, transferred 2.00, credit 1.50" in err


def test_a_missing_balance_row_of_settled_fees_is_no_difference(librarian, patron):
    fee = charge(librarian, patron, "2.00")
    pay(librarian, patron, [fee], "2.00")
    Balance.objects.filter(patron=patron).delete()
    assert check_ledger()[0].strip() == "Ledger checked: 1 fees, 0 balances, 0 differences."


def test_a_closed_fee_with_something_left_on_its_lines_is_named(librarian, patron):
    fee = charge(librarian, patron, "2.00")
    pay(librarian, patron, [fee], "2.00")
    # A ledger line written around the services: the fee says 0, its lines say 1.00.
    FeeTransaction.objects.create(fee=fee, kind="charge", amount=D("1.00"), balance_after=D("1.00"))
    _, err = failing_check()
    assert f"fee {fee.pk} (patron {patron.pk}): remaining 0.00, ledger sum 1.00" in err
    assert "original amount 2.00, charged 3.00" in err


def test_a_line_with_a_wrong_running_balance_is_named(librarian, patron):
    fee = charge(librarian, patron, "2.00")
    wrong = FeeTransaction.objects.create(
        fee=fee, kind="dispute", amount=D("2.00"), balance_after=D("1.00")
    )
    FeeTransaction.objects.create(
        fee=fee, kind="restore", amount=D("2.00"), balance_after=D("2.00")
    )
    _, err = failing_check()
    assert err.strip() == f"fee {fee.pk}: line {wrong.pk} says 1.00 remained, the ledger 2.00"


def test_a_receipt_whose_total_is_not_its_lines_is_named(librarian, patron):
    fee = charge(librarian, patron, "2.00")
    receipt = pay(librarian, patron, [fee], "2.00").receipt
    sql("UPDATE fines_receipt SET total = 2.50 WHERE id = %s", [receipt.pk])
    _, err = failing_check()
    assert (
        err.strip() == f"receipt {receipt.site.code}-{receipt.number}: total 2.50, its lines 2.00"
    )


def test_a_payment_refunded_more_than_it_took_is_named(librarian, patron):
    fee = charge(librarian, patron, "2.00")
    pay(librarian, patron, [fee], "2.00")
    payment = payment_of(fee)
    back = refund(librarian, patron, payment, "2.00").receipt
    FeeTransaction.objects.create(
        fee=fee,
        kind="refund",
        amount=D("0.50"),
        balance_after=0,
        refund_of=payment,
        payment_method=payment.payment_method,
        receipt=back,
    )
    _, err = failing_check()
    assert f"payment {payment.pk} (fee {fee.pk}): refunded 2.50 of a payment of 2.00" in err
