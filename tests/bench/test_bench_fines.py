"""The Fines tab of a patron with 200 fees (each with its ledger lines), and the ledger's
actions, on top of the seeded patrons. Figures only, no assertions about time."""

import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from fines import services
from fines.models import FeeType, PaymentMethod, WaiveReason
from patrons.models import Patron
from tests.bench.conftest import timed

FEES = 200


@pytest.fixture
def indebted(seeded):
    """A patron of the Librarian's school with FEES fees, a third of them part paid."""
    librarian = Patron.objects.get(username="demo-librarian")
    patron = Patron.objects.visible_to(librarian).filter(security_group__level=5).last()
    lost = FeeType.objects.get(code="LOST")
    card = PaymentMethod.objects.get(code="CARD")
    for index in range(FEES):
        fee = services.fee_add(
            actor=librarian,
            patron=patron,
            key=uuid.uuid4(),
            fee_type=lost,
            owner_site=patron.home_site,
            amount=Decimal("3.00"),
        )
        if index % 3 == 0:
            services.fees_pay(
                actor=librarian,
                patron=patron,
                key=uuid.uuid4(),
                fee_ids=[fee.pk],
                method=card,
                site=patron.home_site,
                amount=Decimal("1.00"),
            )
    return librarian, patron


@pytest.mark.django_db
def test_fines_tab_with_200_fees(client, indebted, bench_report):
    librarian, patron = indebted
    client.force_login(librarian)
    url = reverse("patrons:tab", kwargs={"pk": patron.pk, "tab": "fines"})
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    query_count = len(queries)
    median, fastest = timed(lambda: client.get(url))
    bench_report.add(
        f"Fines tab, {FEES} fees",
        librarian.username,
        f"HTTP {response.status_code}",
        f"{median * 1000:.1f} ms",
        f"{fastest * 1000:.1f} ms",
        query_count,
    )


@pytest.mark.django_db
def test_ledger_actions(indebted, bench_report):
    librarian, patron = indebted
    fee_ids = list(patron.fees.filter(status="active").values_list("pk", flat=True))
    card = PaymentMethod.objects.get(code="CARD")
    reason = WaiveReason.objects.first()
    batches = iter([fee_ids[i : i + 10] for i in range(0, len(fee_ids), 10)])

    def pay_ten():
        services.fees_pay(
            actor=librarian,
            patron=patron,
            key=uuid.uuid4(),
            fee_ids=next(batches),
            method=card,
            site=patron.home_site,
        )

    median, fastest = timed(pay_ten, runs=5)
    bench_report.add(
        "pay 10 fees (one receipt)",
        librarian.username,
        "",
        f"{median * 1000:.1f} ms",
        f"{fastest * 1000:.1f} ms",
        "",
    )

    def waive_ten():
        services.fees_waive(
            actor=librarian, patron=patron, key=uuid.uuid4(), fee_ids=next(batches), reason=reason
        )

    median, fastest = timed(waive_ten, runs=5)
    bench_report.add(
        "waive 10 fees",
        librarian.username,
        "",
        f"{median * 1000:.1f} ms",
        f"{fastest * 1000:.1f} ms",
        "",
    )
