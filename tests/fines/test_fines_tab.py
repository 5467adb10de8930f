"""The Fines tab through HTTP: what each role sees and may do, bad input, crafted POSTs."""

import uuid
from decimal import Decimal

import pytest
from django.urls import reverse

from fines import services
from fines.models import Fee, FeeTransaction, FeeType, PaymentMethod, WaiveReason

pytestmark = pytest.mark.django_db


def tab_url(patron):
    return reverse("patrons:tab", kwargs={"pk": patron.pk, "tab": "fines"})


def add_fee(actor, patron, site, amount="12.50", code="LOST"):
    return services.fee_add(
        actor=actor,
        patron=patron,
        key=uuid.uuid4(),
        fee_type=FeeType.objects.get(code=code),
        owner_site=site,
        amount=Decimal(amount),
    )


def test_the_tab_lists_fees_and_balances(client, librarian, patron, ams):
    add_fee(librarian, patron, ams, "12.50")
    client.force_login(librarian)
    response = client.get(tab_url(patron))
    assert response.status_code == 200
    body = response.content.decode()
    assert "$12.50" in body and "Lost item" in body


def test_add_a_fee_through_the_form(client, librarian, patron, ams):
    client.force_login(librarian)
    lost = FeeType.objects.get(code="LOST")
    response = client.post(
        tab_url(patron),
        {"add-key": uuid.uuid4(), "add-fee_type": lost.pk, "add-owner_site": ams.pk, "add-amount": "7.25"},
    )
    assert response.status_code == 200, response.content.decode()[:3000]
    assert Fee.objects.get(patron=patron).original_amount == Decimal("7.25")


@pytest.mark.parametrize("amount", ["0", "-1", "1.234", "abc", "NaN", "1e9", "99999999999"])
def test_bad_amounts_are_refused_next_to_the_field(client, librarian, patron, ams, amount):
    client.force_login(librarian)
    lost = FeeType.objects.get(code="LOST")
    response = client.post(
        tab_url(patron),
        {"add-key": uuid.uuid4(), "add-fee_type": lost.pk, "add-owner_site": ams.pk, "add-amount": amount},
    )
    assert response.status_code == 422
    assert not Fee.objects.exists()


def test_pay_in_cash_then_waive_the_rest(client, librarian, patron, ams):
    fee = add_fee(librarian, patron, ams, "12.50")
    services.cash_session_open(actor=librarian, site=ams, opening_float=Decimal("20"))
    client.force_login(librarian)
    cash = PaymentMethod.objects.get(code="CASH")
    response = client.post(
        tab_url(patron),
        {"selected-key": uuid.uuid4(), "selected-action": "pay", "selected-fees": [fee.pk],
         "selected-amount": "5.00", "selected-payment_method": cash.pk, "selected-tendered": "10"},
    )
    assert response.status_code == 200, response.content.decode()[:3000]
    assert "Change due: $5.00" in response.content.decode()
    reason = WaiveReason.objects.first()
    response = client.post(
        tab_url(patron),
        {"selected-key": uuid.uuid4(), "selected-action": "waive", "selected-fees": [fee.pk],
         "selected-waive_reason": reason.pk},
    )
    assert response.status_code == 200
    fee.refresh_from_db()
    assert fee.remaining == 0 and fee.status == Fee.Status.CLOSED
