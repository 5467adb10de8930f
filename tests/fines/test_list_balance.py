"""The patron list's Balance column and its "Owes more than" filter (issue item 6): the net
balance (fees owed less credit) in the same query as the rows, the filter strictly above
the amount, bad amounts refused next to the field, and the filter served by the index
balance_net."""

import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from fines import services
from fines.models import Balance, FeeType, WaiveReason
from fines.money import format_money
from patrons import selectors
from patrons.forms.search import (
    OWES_NEGATIVE,
    OWES_NOT_AN_AMOUNT,
    OWES_TOO_LARGE,
    OWES_TOO_MANY_DECIMALS,
)
from patrons.models import Patron
from patrons.selectors import PatronFilters, patron_search
from tests.factories import PatronFactory
from tests.patrons.test_search import MAX_QUERIES
from tests.patrons.test_selectors import plan_of

pytestmark = pytest.mark.django_db

LIST = reverse("patrons:list")


def charge(actor, patron, site, amount: str, **fields):
    return services.fee_add(
        actor=actor,
        patron=patron,
        key=uuid.uuid4(),
        fee_type=FeeType.objects.get(code="LOST"),
        owner_site=site,
        amount=Decimal(amount),
        **fields,
    )


def credit(actor, patron, site, amount: str, comment="Paid twice"):
    return services.credit_add(
        actor=actor,
        patron=patron,
        key=uuid.uuid4(),
        fee_type=FeeType.objects.get(code="CREDIT"),
        owner_site=site,
        amount=Decimal(amount),
        comment=comment,
    )


def waive(actor, patron, *fees):
    return services.fees_waive(
        actor=actor,
        patron=patron,
        key=uuid.uuid4(),
        fee_ids=[fee.pk for fee in fees],
        reason=WaiveReason.objects.get(code="GOODWILL"),
    )


def dispute(actor, patron, *fees):
    return services.fees_dispute(
        actor=actor, patron=patron, key=uuid.uuid4(), fee_ids=[fee.pk for fee in fees]
    )


@pytest.fixture
def owers(librarian, ams):
    """Patrons named by what they owe: exactly 10.00, 9.99, a credit, a balance row that
    came back to zero, no balance row at all, and 10.00 in dispute (not counted)."""
    people = {
        name: PatronFactory(last_name=f"Qower{name}", home_site=ams)
        for name in ("Ten", "Nine", "Credit", "Settled", "Nothing", "Disputed")
    }
    charge(librarian, people["Ten"], ams, "10.00")
    charge(librarian, people["Nine"], ams, "9.99")
    credit(librarian, people["Credit"], ams, "5.00")
    waive(librarian, people["Settled"], charge(librarian, people["Settled"], ams, "3.00"))
    dispute(librarian, people["Disputed"], charge(librarian, people["Disputed"], ams, "10.00"))
    return people


def owing(operator, amount: str) -> set[str]:
    rows = patron_search(
        operator=operator, query="qower", filters=PatronFilters(owes_more_than=Decimal(amount))
    ).rows
    return {row.last_name.removeprefix("Qower") for row in rows}


def test_more_than_is_strictly_more(librarian, owers):
    assert owing(librarian, "10.00") == set()
    assert owing(librarian, "9.99") == {"Ten"}
    assert owing(librarian, "9.98") == {"Ten", "Nine"}


def test_more_than_zero_is_everyone_who_owes_and_no_one_in_credit_or_without_a_balance(
    librarian, owers
):
    """A credit is a negative balance; a dispute is not counted (as by the debt limit)."""
    assert owing(librarian, "0") == {"Ten", "Nine"}


def test_the_balance_column_is_the_net_balance(librarian, owers):
    rows = patron_search(operator=librarian, query="qower").rows
    balances = {row.last_name.removeprefix("Qower"): row.balance_net for row in rows}
    assert balances == {
        "Ten": Decimal("10.00"),
        "Nine": Decimal("9.99"),
        "Credit": Decimal("-5.00"),
        "Settled": Decimal("0.00"),
        "Nothing": Decimal("0.00"),
        "Disputed": Decimal("0.00"),
    }
    assert not Balance.objects.filter(patron=owers["Nothing"]).exists()


def test_the_page_shows_balances_in_the_currency_credit_negative(client, librarian, owers):
    client.force_login(librarian)
    response = client.get(LIST, {"q": "qower"})
    assert "Balance" in [header["column"].label for header in response.context["columns"]]
    page = response.content.decode()
    for amount in ("10.00", "9.99", "-5.00", "0.00"):
        assert format_money(Decimal(amount)) in page
    assert format_money(Decimal("-5.00")).startswith("-")


def test_the_filter_on_the_page(client, librarian, owers):
    client.force_login(librarian)
    response = client.get(LIST, {"q": "qower", "owes": "9.99"})
    assert [row.pk for row in response.context["page"].rows] == [owers["Ten"].pk]
    assert response.context["searching"]


def test_the_filter_keeps_to_the_scope(librarian, owers, jes, district_admin):
    elsewhere = PatronFactory(last_name="QowerElsewhere", home_site=jes)
    charge(district_admin, elsewhere, jes, "50.00")
    assert owing(librarian, "0") == {"Ten", "Nine"}
    assert "Elsewhere" in owing(district_admin, "0")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", OWES_NOT_AN_AMOUNT),
        ("NaN", OWES_NOT_AN_AMOUNT),
        ("-1", OWES_NEGATIVE),
        ("-0.01", OWES_NEGATIVE),
        ("1.001", OWES_TOO_MANY_DECIMALS),
        ("1e-9", OWES_TOO_MANY_DECIMALS),
        ("10000000000", OWES_TOO_LARGE),
        ("1e30", OWES_TOO_LARGE),
        ("9" * 5000, OWES_TOO_LARGE),
    ],
)
def test_a_bad_amount_is_refused_next_to_the_field_and_left_out(
    client, librarian, owers, value, message
):
    client.force_login(librarian)
    response = client.get(LIST, {"q": "qower", "owes": value})
    assert response.status_code == 200
    assert response.context["form"].errors["owes"] == [message]
    assert message in response.content.decode()
    assert len(response.context["page"].rows) == len(owers)  # the filter is left out


@pytest.mark.parametrize("value", ["12.500", "0", "9999999999.99", " 5 "])
def test_amounts_in_whole_cents_up_to_the_column_are_accepted(client, librarian, value):
    client.force_login(librarian)
    form = client.get(LIST, {"owes": value}).context["form"]
    assert "owes" not in form.errors
    assert form.filters().owes_more_than == Decimal(value.strip())


def test_the_balance_comes_with_the_rows(client, librarian, ams, django_assert_max_num_queries):
    """The same queries for 5 rows with balances as for 50: an annotation, not a read per
    row, and the list stays within its bound with the filter on."""

    def listing(count):
        listed = Patron.objects.filter(last_name="Zqowe").count()
        for patron in PatronFactory.create_batch(count - listed, last_name="Zqowe", home_site=ams):
            charge(librarian, patron, ams, "1.50")
        with (
            django_assert_max_num_queries(MAX_QUERIES),
            CaptureQueriesContext(connection) as queries,
        ):
            response = client.get(LIST, {"q": "zqowe", "owes": "1"})
        assert len(response.context["page"].rows) == count
        assert {row.balance_net for row in response.context["page"].rows} == {Decimal("1.50")}
        return len(queries)

    client.force_login(librarian)
    client.get(LIST)  # the session and the policy's facts, once
    assert listing(5) == listing(50)


# --- bounded at a million patrons --------------------------------------------------------------


def test_the_filter_can_use_the_balance_index(district_admin, owers):
    """Bitmap scans only (as the searches' index tests): the amount is an Index Cond on
    balance_net, so the patrons who owe are found without reading every balance."""
    plan = plan_of(
        district_admin,
        off=("seqscan", "indexscan", "indexonlyscan"),
        filters=PatronFilters(owes_more_than=Decimal("9.99")),
    )
    assert "balance_net" in plan
    assert "Index Cond: (net > 9.99)" in plan


def test_the_count_of_a_filtered_list_is_bounded(librarian, owers, monkeypatch):
    monkeypatch.setattr(selectors, "COUNT_LIMIT", 1)
    page = patron_search(
        operator=librarian, filters=PatronFilters(owes_more_than=Decimal("0")), page_size=1
    )
    assert (page.count, page.count_is_bounded) == (2, True)


def test_the_debt_limit_block_shows_in_the_lists_blocks_column_and_filter(client, librarian, ams):
    from fines.models import FeeType
    from patrons.models import PatronType

    student = PatronType.objects.create(code="ST", name="Student", debt_limit=Decimal("5.00"))
    debtor = PatronFactory(home_site=ams, patron_type=student, last_name="Debtor")
    clear = PatronFactory(home_site=ams, patron_type=student, last_name="Clear")
    for patron, amount in ((debtor, "5.00"), (clear, "4.99")):
        services.fee_add(
            actor=librarian,
            patron=patron,
            key=uuid.uuid4(),
            fee_type=FeeType.objects.get(code="LOST"),
            owner_site=ams,
            amount=Decimal(amount),
        )
    client.force_login(librarian)
    blocked = client.get(reverse("patrons:list"), {"blocked": "yes"}).context["page"].rows
    assert [row.pk for row in blocked] == [debtor.pk]
    rows = {row.pk: row for row in client.get(reverse("patrons:list")).context["page"].rows}
    assert rows[debtor.pk].active_blocks == 1 and rows[clear.pk].active_blocks == 0
