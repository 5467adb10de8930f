"""Receipts: numbered without gaps per site, a refund names the receipt it undoes, and the
printable receipt page is seen only by those who may."""

import uuid
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import escape

from fines import services
from fines.models import FeeType, PaymentMethod, Receipt, ReceiptCounter
from fines.services.ledger import TENDERED_TOO_LOW
from security.models import Level
from tests.factories import OperatorFactory, PatronFactory

pytestmark = pytest.mark.django_db


def key():
    return uuid.uuid4()


@pytest.fixture
def cash():
    return PaymentMethod.objects.get(code="CASH")


@pytest.fixture
def card():
    return PaymentMethod.objects.get(code="CARD")


@pytest.fixture
def jes_patron(jes):
    return PatronFactory(home_site=jes)


def charge(actor, patron, site, amount, barcode=""):
    lost = FeeType.objects.get(code="LOST")
    return services.fee_add(
        actor=actor,
        patron=patron,
        key=key(),
        fee_type=lost,
        owner_site=site,
        amount=D(amount),
        item_barcode=barcode,
    )


def pay(actor, patron, site, amount, method, tendered=None, barcode=""):
    fee = charge(actor, patron, site, amount, barcode)
    return services.fees_pay(
        actor=actor,
        patron=patron,
        key=key(),
        fee_ids=[fee.pk],
        amount=D(amount),
        method=method,
        site=site,
        tendered=None if tendered is None else D(tendered),
    ).receipt


def url(receipt):
    return reverse("fines:receipt", kwargs={"pk": receipt.pk})


# --- numbering ----------------------------------------------------------------------------


def test_receipt_numbers_are_gap_free_per_site(
    librarian, operator_at_other_site, patron, jes_patron, ams, jes, cash, card
):
    services.cash_session_open(actor=librarian, site=ams, opening_float=D("0"))
    numbers = {"AMS": [], "JES": []}
    for _ in range(3):
        numbers["AMS"].append(pay(librarian, patron, ams, "1.00", card).number)
        numbers["JES"].append(pay(operator_at_other_site, jes_patron, jes, "1.00", card).number)
        with pytest.raises(ValidationError) as refused:  # tendered too low: nothing kept
            pay(librarian, patron, ams, "5.00", cash, tendered="4.00")
        assert "less than the payment" in str(refused.value)
    assert numbers == {"AMS": [1, 2, 3], "JES": [1, 2, 3]}
    assert ReceiptCounter.objects.get(site=ams).last_number == 3
    assert pay(librarian, patron, ams, "5.00", cash, tendered="5.00").number == 4
    assert sorted(Receipt.objects.filter(site=ams).values_list("number", flat=True)) == [1, 2, 3, 4]


def test_the_tendered_too_low_message(librarian, patron, ams, cash):
    services.cash_session_open(actor=librarian, site=ams, opening_float=D("0"))
    with pytest.raises(ValidationError) as refused:
        pay(librarian, patron, ams, "5.00", cash, tendered="4.00")
    assert refused.value.message_dict["tendered"] == [
        TENDERED_TOO_LOW.format(tendered="$4.00", amount="$5.00")
    ]
    assert not Receipt.objects.exists()


def test_a_cash_receipt_is_numbered_at_the_sessions_site(librarian, patron, ams, ams_branch, cash):
    services.cash_session_open(actor=librarian, site=ams_branch, opening_float=D("0"))
    receipt = pay(librarian, patron, ams, "2.00", cash, tendered="5.00")
    assert (receipt.site, receipt.number, receipt.change_due) == (ams_branch, 1, D("3.00"))


def test_a_refund_names_the_payments_receipt(client, librarian, patron, ams, card):
    payment_receipt = pay(librarian, patron, ams, "9.00", card)
    payment = payment_receipt.lines.get()
    refund = services.payment_refund(
        actor=librarian, patron=patron, key=key(), payment_id=payment.pk, amount=D("4.00")
    ).receipt
    assert (refund.kind, refund.undoes, refund.number) == ("refund", payment_receipt, 2)

    client.force_login(librarian)
    page = client.get(url(refund)).content.decode()
    assert "Refund of receipt" in page and "AMS-000001" in page
    assert f'href="{url(payment_receipt)}"' in page
    original = client.get(url(payment_receipt)).content.decode()
    assert f'href="{url(refund)}"' in original and "AMS-000002" in original


# --- the page -----------------------------------------------------------------------------


def test_a_cash_receipt_shows_everything_printed(client, librarian, patron, ams, cash):
    services.cash_session_open(actor=librarian, site=ams, opening_float=D("0"))
    receipt = pay(librarian, patron, ams, "7.25", cash, tendered="10.00", barcode="ITEM-42")
    client.force_login(librarian)
    response = client.get(url(receipt))
    assert response.status_code == 200
    page = response.content.decode()
    for text in (
        ams.name,
        "AMS-000001",
        escape(patron.display_name),
        patron.barcode,
        escape(librarian.display_name),
        "Cash",
        "Lost item",
        "ITEM-42",
    ):
        assert text in page
    assert "data-total>$7.25<" in page
    assert page.count("$7.25") == 2 and "$0.00" in page  # the line: paid, nothing left
    assert "data-tendered>$10.00<" in page
    assert "data-change-due>$2.75<" in page


def test_a_card_receipt_has_no_change(client, librarian, patron, ams, card):
    receipt = pay(librarian, patron, ams, "3.00", card)
    client.force_login(librarian)
    page = client.get(url(receipt)).content.decode()
    assert "Card" in page and "data-change-due" not in page


def test_the_page_prints_with_its_own_css_and_no_inline_script(
    client, librarian, patron, ams, card
):
    receipt = pay(librarian, patron, ams, "3.00", card)
    client.force_login(librarian)
    response = client.get(url(receipt))
    page = response.content.decode()
    assert 'href="/static/css/receipt-print.css" media="print"' in page
    assert "data-print" in page and "onclick" not in page
    assert "<script>" not in page
    assert "unsafe-inline" not in response.headers.get("Content-Security-Policy", "")


@pytest.mark.parametrize("role", ["aide", "staff", "librarian", "library_admin", "district_admin"])
def test_operators_who_see_the_patrons_fees_see_the_receipt(client, roles, patron, ams, card, role):
    receipt = pay(roles["librarian"], patron, ams, "3.00", card)
    client.force_login(roles[role])
    assert client.get(url(receipt)).status_code == 200


@pytest.mark.parametrize("role", ["operator_at_other_site", "patron"])
def test_others_get_not_found(client, roles, patron, ams, card, role):
    receipt = pay(roles["librarian"], patron, ams, "3.00", card)
    client.force_login(roles[role])
    assert client.get(url(receipt)).status_code == 404


def test_the_patron_themselves_gets_not_found(client, librarian, patron, ams, card):
    receipt = pay(librarian, patron, ams, "3.00", card)
    client.force_login(patron)
    assert client.get(url(receipt)).status_code == 404


def test_anonymous_is_sent_to_sign_in(client, librarian, patron, ams, card):
    receipt = pay(librarian, patron, ams, "3.00", card)
    assert client.get(url(receipt)).status_code == 302


def test_a_missing_receipt_is_not_found(client, librarian):
    client.force_login(librarian)
    assert client.get(reverse("fines:receipt", kwargs={"pk": 987654})).status_code == 404


def test_the_operator_who_took_it_still_sees_it_once_the_patron_moved(
    client, librarian, staff, patron, ams, jes, card
):
    receipt = pay(librarian, patron, ams, "3.00", card)
    patron.home_site = jes
    patron.save(update_fields=["home_site"])
    client.force_login(librarian)
    assert client.get(url(receipt)).status_code == 200
    client.force_login(staff)  # at AMS, did not take it, cannot see the patron now
    assert client.get(url(receipt)).status_code == 404


def test_who_took_it_needs_the_site_in_scope_too(client, ams, jes, patron, card):
    mover = OperatorFactory(level=Level.LIBRARIAN, home_site=ams)
    receipt = pay(mover, patron, ams, "3.00", card)
    mover.site_access.set([jes])
    mover.home_site = jes
    mover.save(update_fields=["home_site"])
    client.force_login(mover)
    assert client.get(url(receipt)).status_code == 404


def test_every_role_gets_the_expected_status(client, roles, patron, ams, card):
    receipt = pay(roles["librarian"], patron, ams, "3.00", card)
    expected = {
        "anonymous": 302,
        "patron": 404,
        "aide": 200,
        "staff": 200,
        "librarian": 200,
        "library_admin": 200,
        "district_admin": 200,
        "operator_at_other_site": 404,
    }
    got = {}
    for role in expected:
        client.logout()
        if role != "anonymous":
            client.force_login(roles[role])
        got[role] = client.get(url(receipt)).status_code
    assert got == expected
