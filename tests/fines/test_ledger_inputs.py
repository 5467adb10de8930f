"""What a direct call of the services (a command, an import, a crafted caller) gets for
amounts that are text or floats, and for a waive that mixes credits and fees."""

import uuid
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from fines import services
from fines.models import Balance, FeeType, PaymentMethod, WaiveReason

pytestmark = pytest.mark.django_db


def fee(actor, patron, site, amount="10.00", code="LOST", comment=""):
    add = services.credit_add if code == "CREDIT" else services.fee_add
    extra = {"comment": comment or "Returned book"} if code == "CREDIT" else {}
    return add(
        actor=actor,
        patron=patron,
        key=uuid.uuid4(),
        fee_type=FeeType.objects.get(code=code),
        owner_site=site,
        amount=amount,
        **extra,
    )


@pytest.mark.parametrize("amount", ["5.00", " 5 ", 5, 5.0])
def test_text_and_numbers_are_read_as_amounts(librarian, patron, ams, amount):
    charged = fee(librarian, patron, ams, amount)
    assert charged.original_amount == Decimal("5.00")
    paid = services.fees_pay(
        actor=librarian,
        patron=patron,
        key=uuid.uuid4(),
        fee_ids=[charged.pk],
        method=PaymentMethod.objects.get(code="CARD"),
        site=ams,
        amount=amount,
    )
    assert paid.amount == Decimal("5.00")


@pytest.mark.parametrize("amount", ["5.001", 0.1 + 0.2, "five", None, float("nan")])
def test_what_is_not_an_amount_is_refused_not_a_crash(librarian, patron, ams, amount):
    charged = fee(librarian, patron, ams)
    with pytest.raises(ValidationError) as refused:
        services.fees_waive(
            actor=librarian,
            patron=patron,
            key=uuid.uuid4(),
            fee_ids=[charged.pk],
            reason=WaiveReason.objects.first(),
            amount=amount if amount is not None else "",
        )
    assert "amount" in refused.value.error_dict


def test_a_waive_of_credits_and_fees_together_is_refused(librarian, patron, ams):
    charge = fee(librarian, patron, ams, "10.00")
    credit = fee(librarian, patron, ams, "4.00", code="CREDIT")
    with pytest.raises(ValidationError) as refused:
        services.fees_waive(
            actor=librarian,
            patron=patron,
            key=uuid.uuid4(),
            fee_ids=[charge.pk, credit.pk],
            reason=WaiveReason.objects.first(),
        )
    assert "fees" in refused.value.error_dict
    assert Balance.objects.get(patron=patron).net == Decimal("6.00")


@pytest.mark.parametrize("action", ["pay", "waive"])
def test_fees_in_full_may_total_more_than_one_amount_may_be(librarian, patron, ams, action):
    """Each fee is at most $999,999.99; two of them, paid or waived in full, are one line
    each within that, on one receipt whose total is not bound by it."""
    fees = [fee(librarian, patron, ams, "999999.99"), fee(librarian, patron, ams, "0.02")]
    common = {
        "actor": librarian,
        "patron": patron,
        "key": uuid.uuid4(),
        "fee_ids": [f.pk for f in fees],
    }
    if action == "pay":
        done = services.fees_pay(**common, method=PaymentMethod.objects.get(code="CARD"), site=ams)
    else:
        done = services.fees_waive(**common, reason=WaiveReason.objects.first())
    assert done.amount == Decimal("1000000.01")
    assert Balance.objects.get(patron=patron).active == Decimal("0.00")
