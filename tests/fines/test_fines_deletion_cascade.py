"""Deleting people the ledger names: a patron whose fees are settled (paid, refunded) goes
with their ledger; an operator who recorded lines goes and the lines stay, unchanged."""

import uuid
from decimal import Decimal

import pytest

from fines import services
from fines.models import FeeTransaction, FeeType, PaymentMethod, Receipt
from patrons import services as patron_services
from security.models import Level
from tests.factories import OperatorFactory

pytestmark = pytest.mark.django_db


def settled_fee(actor, patron, site):
    fee = services.fee_add(
        actor=actor,
        patron=patron,
        key=uuid.uuid4(),
        fee_type=FeeType.objects.get(code="LOST"),
        owner_site=site,
        amount=Decimal("6.00"),
    )
    paid = services.fees_pay(
        actor=actor,
        patron=patron,
        key=uuid.uuid4(),
        fee_ids=[fee.pk],
        method=PaymentMethod.objects.get(code="CARD"),
        site=site,
    )
    payment = FeeTransaction.objects.get(receipt=paid.receipt)
    services.payment_refund(
        actor=actor, patron=patron, key=uuid.uuid4(), payment_id=payment.pk, amount=Decimal("2.00")
    )
    return fee


def test_a_settled_patron_is_deleted_with_their_ledger_and_the_receipts_stay(
    librarian, patron, ams
):
    settled_fee(librarian, patron, ams)
    patron_services.patron_delete(actor=librarian, patron=patron)
    assert not FeeTransaction.objects.exists()
    receipts = Receipt.objects.order_by("number")
    assert [r.kind for r in receipts] == ["payment", "refund"]
    assert all(r.patron_id is None and r.patron_name for r in receipts)


def test_an_operator_who_recorded_lines_is_deleted_and_the_lines_stay(library_admin, patron, ams):
    desk = OperatorFactory(level=Level.LIBRARY_STAFF, home_site=ams)
    fee = services.fee_add(
        actor=desk,
        patron=patron,
        key=uuid.uuid4(),
        fee_type=FeeType.objects.get(code="LOST"),
        owner_site=ams,
        amount=Decimal("6.00"),
    )
    name = desk.display_name
    patron_services.patron_delete(actor=library_admin, patron=desk)
    line = FeeTransaction.objects.get(fee=fee)
    assert line.by_name == name


def test_a_line_is_never_deleted_on_its_own(librarian, patron, ams):
    from django.db import ProgrammingError, connection, transaction

    fee = settled_fee(librarian, patron, ams)
    with pytest.raises(ProgrammingError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM fines_feetransaction WHERE fee_id = %s", [fee.pk])
    assert FeeTransaction.objects.filter(fee=fee).count() == 3


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:fines_fee_changelist",
        "admin:fines_receipt_changelist",
        "admin:fines_cashsession_changelist",
        "admin:fines_bursarexport_changelist",
    ],
)
def test_the_admin_shows_money_read_only(client, district_admin, librarian, patron, ams, url_name):
    from django.urls import reverse

    fee = settled_fee(librarian, patron, ams)
    client.force_login(district_admin)
    assert client.get(reverse(url_name)).status_code == 200
    change = reverse("admin:fines_fee_change", args=[fee.pk])
    page = client.get(change)
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert client.get(reverse("admin:fines_fee_add")).status_code == 403
