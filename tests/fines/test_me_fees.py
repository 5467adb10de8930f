"""The patron's own fees (issue item 6): /me/ shows their balance and fees, read-only and
whatever the owner site, and "Download my data" holds every fee with its whole ledger;
neither names the staff who acted, and neither grows in queries with the fees."""

import json
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from fines import services
from fines.models import PaymentMethod
from fines.money import format_money
from patrons import me_selectors
from patrons.me_selectors import BY_LIBRARY
from tests.factories import PatronFactory
from tests.fines.test_list_balance import charge, credit, dispute, waive

pytestmark = pytest.mark.django_db

ME = reverse("me")
DATA = reverse("me_data")


def pay(actor, patron, fee, amount: str, site):
    return services.fees_pay(
        actor=actor,
        patron=patron,
        key=uuid.uuid4(),
        fee_ids=[fee.pk],
        amount=Decimal(amount),
        method=PaymentMethod.objects.get(code="CARD"),
        site=site,
    )


@pytest.fixture
def fees(librarian, district_admin, patron, ams, jes):
    """A lost book half paid, a fee in dispute, a fee owned by another library, a credit,
    and a fee waived in full (closed)."""
    lost = charge(librarian, patron, ams, "12.50", item_barcode="B-0042", comment="Atlas")
    pay(librarian, patron, lost, "5.00", ams)
    dispute(librarian, patron, charge(librarian, patron, ams, "2.50", comment="Says returned"))
    charge(district_admin, patron, jes, "3.00", comment="Borrowed at Jefferson")
    credit(librarian, patron, ams, "4.00", comment="Paid twice")
    waive(librarian, patron, charge(librarian, patron, ams, "1.25", comment="Waived one"))
    return patron


def page_of(client) -> str:
    response = client.get(ME)
    assert response.status_code == 200
    return response.content.decode()


def test_the_page_shows_the_balance(client, fees):
    client.force_login(fees)
    balance = client.get(ME).context["fees"].balance
    assert (balance.owed, balance.disputed, balance.transferred, balance.credit) == (
        Decimal("10.50"),
        Decimal("2.50"),
        Decimal("0.00"),
        Decimal("4.00"),
    )
    page = page_of(client)
    for label, amount in (("You owe", "10.50"), ("In dispute", "2.50"), ("Your credit", "4.00")):
        assert f"<dt>{label}</dt><dd>{format_money(Decimal(amount))}" in page
    assert "<dt>Transferred</dt>" not in page


def test_open_fees_whatever_the_owner_site_and_credits_negative(client, fees):
    client.force_login(fees)
    response = client.get(ME)
    listed = response.context["fees"]
    assert [fee.comment for fee in listed.open] == [
        "Atlas",
        "Says returned",
        "Borrowed at Jefferson",
        "Paid twice",
    ]
    page = response.content.decode()
    for text in ("B-0042", "Atlas", "In dispute", "Borrowed at Jefferson", "Lost item"):
        assert text in page
    for amount in ("12.50", "7.50", "-4.00"):
        assert format_money(Decimal(amount)) in page
    assert [fee.comment for fee in listed.closed] == ["Waived one"]
    assert "<details" in page and "Waived one" in page


def test_the_page_is_read_only_and_names_no_staff(client, fees, librarian, district_admin):
    client.force_login(fees)
    page = page_of(client)
    for name in (librarian.display_name, district_admin.display_name):
        assert name not in page
    assert reverse("patrons:tab", args=[fees.pk, "fines"]) not in page
    assert "<form" not in page.split('id="me-fees"')[1].split("</section>")[0]


def test_only_the_latest_closed_fees_are_listed(client, fees, librarian, ams, monkeypatch):
    for number in range(3):
        waive(librarian, fees, charge(librarian, fees, ams, "1.00", comment=f"Old {number}"))
    monkeypatch.setattr(me_selectors, "CLOSED_FEES_SHOWN", 2)
    client.force_login(fees)
    closed = client.get(ME).context["fees"].closed
    assert [fee.comment for fee in closed] == ["Old 2", "Old 1"]
    assert len(client.get(ME).context["fees"].open) == 4  # open fees are never cut


def test_another_patrons_fees_are_not_shown(client, patron, librarian, ams):
    other = PatronFactory(home_site=ams)
    charge(librarian, other, ams, "99.00", comment="Someone else's")
    client.force_login(patron)
    page = page_of(client)
    assert "Someone else" not in page and "You have no fees." in page


def test_a_patron_without_fees(client, patron):
    client.force_login(patron)
    assert "You have no fees." in page_of(client)


def test_the_page_costs_the_same_queries_whatever_the_fees(client, patron, librarian, ams):
    charge(librarian, patron, ams, "1.00")
    client.force_login(patron)
    with CaptureQueriesContext(connection) as few:
        page_of(client)
    for number in range(5):
        fee = charge(librarian, patron, ams, "2.00", comment=f"Fee {number}")
        waive(librarian, patron, charge(librarian, patron, ams, "1.00"))
        pay(librarian, patron, fee, "1.00", ams)
    with CaptureQueriesContext(connection) as many:
        page_of(client)
    assert len(many) == len(few)


# --- "Download my data" ---------------------------------------------------------------------


def download(client) -> tuple[str, dict]:
    response = client.get(DATA)
    assert response.status_code == 200
    return response.content.decode(), json.loads(response.content)


def test_the_download_holds_every_fee_and_ledger_line(client, fees, ams):
    client.force_login(fees)
    _, data = download(client)
    by_comment = {fee["comment"]: fee for fee in data["fees"]}
    assert list(by_comment) == [
        "Atlas",
        "Says returned",
        "Borrowed at Jefferson",
        "Paid twice",
        "Waived one",
    ]
    atlas = by_comment["Atlas"]
    assert (atlas["type"], atlas["item_barcode"], atlas["status"]) == (
        "Lost item",
        "B-0042",
        "active",
    )
    assert (atlas["original_amount"], atlas["remaining"]) == ("12.50", "7.50")
    charge_line, payment = atlas["ledger"]
    assert (charge_line["kind"], charge_line["amount"], charge_line["method"]) == (
        "charge",
        "12.50",
        None,
    )
    assert (payment["kind"], payment["amount"], payment["method"]) == ("payment", "5.00", "Card")
    assert (payment["receipt_number"], payment["receipt_site"]) == (1, ams.code)
    assert payment["at"] and payment["balance_after"] == "7.50"
    waived = by_comment["Waived one"]["ledger"][-1]
    assert (waived["kind"], waived["reason"], waived["amount"]) == ("waive", "Goodwill", "1.25")
    assert [line["kind"] for line in by_comment["Says returned"]["ledger"]] == ["charge", "dispute"]
    assert by_comment["Paid twice"]["is_credit"] is True
    assert by_comment["Borrowed at Jefferson"]["site"] == "Jefferson Elementary School"


def test_the_download_names_no_staff(client, fees, librarian, district_admin):
    client.force_login(fees)
    body, data = download(client)
    lines = [line for fee in data["fees"] for line in fee["ledger"]]
    assert {line["by"] for line in lines} == {BY_LIBRARY}
    for trace in (librarian.display_name, district_admin.display_name, "by_name", "by_id"):
        assert trace not in body


def test_the_download_costs_the_same_queries_whatever_the_fees(client, patron, librarian, ams):
    charge(librarian, patron, ams, "1.00")
    client.force_login(patron)
    with CaptureQueriesContext(connection) as few:
        download(client)
    for number in range(5):
        fee = charge(librarian, patron, ams, "2.00", comment=f"Fee {number}")
        pay(librarian, patron, fee, "1.00", ams)
        waive(librarian, patron, fee)
    with CaptureQueriesContext(connection) as many:
        _, data = download(client)
    assert len(data["fees"]) == 6
    assert sum(len(fee["ledger"]) for fee in data["fees"]) == 1 + 5 * 3
    assert len(many) == len(few)
