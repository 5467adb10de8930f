"""Two desks at the same moment, each on its own database connection: a fee is paid once,
a form submitted twice is recorded once, waives in opposite orders never deadlock, and
receipt numbers have no gaps."""

import io
import threading
import uuid
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import DatabaseError, connection

from fines import services
from fines.models import Fee, FeeTransaction, Receipt
from fines.services import ledger
from patrons.models import Patron
from security.models import Level
from tests.factories import OperatorFactory, PatronFactory
from tests.fines.test_ledger import charge, method, reason

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 60


def at_once(*calls):
    """Run each call in its own thread (its own connection), started together; return
    each call's outcome: "done", AlreadyDone, the first ValidationError message, or the
    database error. Every thread must finish (a deadlock would hang or raise)."""
    barrier = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(timeout=TIMEOUT)
            call()
            outcomes[index] = "done"
        except services.AlreadyDone:
            outcomes[index] = "already done"
        except ValidationError as error:
            outcomes[index] = error.messages[0]
        except DatabaseError as error:  # a deadlock or a constraint: never expected
            outcomes[index] = f"database error: {error}"
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a desk never finished"
    return outcomes


def fresh(operator):
    """The operator as their own request would load them (one object per thread)."""
    return Patron.objects.select_related("security_group").get(pk=operator.pk)


def ledger_is_sound():
    call_command("check_ledger", stdout=io.StringIO())


def paying(operator, patron, fees, amount, *, pay_key=None):
    return lambda: services.fees_pay(
        actor=fresh(operator),
        patron=fresh(patron),
        key=pay_key or uuid.uuid4(),
        fee_ids=[f.pk for f in fees],
        amount=D(amount),
        method=method(),
        site=patron.home_site,
    )


def waiving(operator, patron, fees, amount=None):
    return lambda: services.fees_waive(
        actor=fresh(operator),
        patron=fresh(patron),
        key=uuid.uuid4(),
        fee_ids=[f.pk for f in fees],
        reason=reason(),
        amount=None if amount is None else D(amount),
    )


@pytest.fixture
def desks(default_groups, ams):
    return (
        OperatorFactory(level=Level.LIBRARIAN, home_site=ams),
        OperatorFactory(level=Level.LIBRARY_STAFF, home_site=ams),
    )


def test_two_desks_paying_one_fee_in_full_take_the_money_once(desks, ams):
    first, second = desks
    for _ in range(5):
        patron = PatronFactory(home_site=ams)
        fee = charge(first, patron, "12.00")
        outcomes = at_once(
            paying(first, patron, [fee], "12.00"), paying(second, patron, [fee], "12.00")
        )
        assert outcomes.count("done") == 1, outcomes
        (other,) = [outcome for outcome in outcomes if outcome != "done"]
        assert other.startswith(("Only active fees can be paid", "That is more than")), other
        fee.refresh_from_db()
        assert (fee.remaining, fee.status) == (D("0.00"), Fee.Status.CLOSED)
        assert fee.transactions.filter(kind=FeeTransaction.Kind.PAYMENT).count() == 1
        assert Receipt.objects.filter(patron=patron).count() == 1
        assert patron.balance.active == 0
    ledger_is_sound()


def test_two_desks_paying_parts_of_one_fee_both_count(desks, ams):
    first, second = desks
    patron = PatronFactory(home_site=ams)
    fee = charge(first, patron, "12.00")
    outcomes = at_once(paying(first, patron, [fee], "5.00"), paying(second, patron, [fee], "7.00"))
    assert outcomes == ["done", "done"]
    fee.refresh_from_db()
    assert fee.status == Fee.Status.CLOSED
    assert sorted(fee.transactions.filter(kind="payment").values_list("amount", flat=True)) == [
        D("5.00"),
        D("7.00"),
    ]
    ledger_is_sound()


def test_one_form_submitted_twice_at_once_is_recorded_once(desks, ams):
    operator, _ = desks
    patron = PatronFactory(home_site=ams)
    fee = charge(operator, patron, "12.00")
    once = uuid.uuid4()
    outcomes = at_once(
        paying(operator, patron, [fee], "3.00", pay_key=once),
        paying(operator, patron, [fee], "3.00", pay_key=once),
    )
    assert sorted(outcomes) == ["already done", "done"]
    fee.refresh_from_db()
    assert fee.remaining == D("9.00")
    assert fee.transactions.filter(kind=FeeTransaction.Kind.PAYMENT).count() == 1
    assert Receipt.objects.count() == 1
    ledger_is_sound()


def test_waives_in_opposite_orders_never_deadlock(desks, ams):
    first, second = desks[0], OperatorFactory(level=Level.LIBRARIAN, home_site=ams)
    patron = PatronFactory(home_site=ams)
    fees = [charge(first, patron, amount) for amount in ("3.00", "4.00", "5.00")]
    outcomes = at_once(waiving(first, patron, fees), waiving(second, patron, fees[::-1]))
    assert outcomes.count("done") == 1, outcomes
    (other,) = [outcome for outcome in outcomes if outcome != "done"]
    assert other.startswith("Only active or disputed fees can be waived"), other
    assert FeeTransaction.objects.filter(kind="waive").count() == 3
    assert set(Fee.objects.values_list("status", flat=True)) == {Fee.Status.CLOSED}

    # Partial waives in opposite orders: both go through, the second on what the first
    # left (a waive that finds a chosen fee closed meanwhile is refused, as above).
    fees = [charge(first, patron, amount) for amount in ("3.00", "4.00", "5.00")]
    outcomes = at_once(
        waiving(first, patron, fees, "2.00"), waiving(second, patron, fees[::-1], "2.00")
    )
    assert outcomes == ["done", "done"]
    remaining = [Fee.objects.get(pk=f.pk).remaining for f in fees]
    assert remaining == [D("0.00"), D("3.00"), D("5.00")]  # oldest first, both times
    patron.balance.refresh_from_db()
    assert patron.balance.active == D("8.00")
    ledger_is_sound()


def test_receipt_numbers_have_no_gaps_under_concurrent_payments(desks, ams, jes):
    payments = 8
    operators = [OperatorFactory(level=Level.LIBRARY_STAFF, home_site=ams) for _ in range(4)]
    patrons = [PatronFactory(home_site=ams) for _ in range(payments)]
    fees = [charge(operators[0], p, "2.00") for p in patrons]
    calls = [
        paying(operators[i % 4], patron, [fee], "1.00")
        for i, (patron, fee) in enumerate(zip(patrons, fees, strict=True))
    ]
    # Refused payments among them take no number.
    calls += [paying(operators[i], patrons[i], [fees[i]], "2.01") for i in range(3)]
    outcomes = at_once(*calls)
    # (over 2.00 before the other desk's payment, over 1.00 after it)
    messages = {ledger.MORE_THAN_OWED.format(total=total) for total in ("$2.00", "$1.00")}
    assert outcomes.count("done") == payments, outcomes
    assert all(outcome == "done" or outcome in messages for outcome in outcomes), outcomes
    numbers = sorted(Receipt.objects.filter(site=ams).values_list("number", flat=True))
    assert numbers == list(range(1, payments + 1))
    # Another school counts on its own.
    elsewhere = OperatorFactory(level=Level.LIBRARY_STAFF, home_site=jes)
    patron = PatronFactory(home_site=jes)
    fee = charge(elsewhere, patron, "1.00")
    paying(elsewhere, patron, [fee], "1.00")()
    assert Receipt.objects.get(site=jes).number == 1
    ledger_is_sound()
