"""Whatever the query string, the patron list (/staff/patrons/, its htmx results too)
answers without a server error (issue 9): every parameter its form and its pages read,
with values it offers, values of the wrong type, and page links (cursors) real, damaged,
or crafted to carry what the database refuses."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from patrons import selectors
from patrons.forms.search import SORT_CHOICES, YES_NO
from patrons.models import Patron, PatronType
from security.models import SecurityGroup
from sites.models import Site
from tests import strategies
from tests.factories import PatronFactory

pytestmark = pytest.mark.django_db

LIST = reverse("patrons:list")
SORTS = [name for name, _ in SORT_CHOICES]
HEADERS = st.sampled_from(
    [{}, {"HX-Request": "true"}, {"HX-Request": "true", "HX-History-Restore-Request": "true"}]
)


@pytest.fixture
def listed(ams, ams_branch, jes):
    """More than a page of patrons, at several sites, with and without barcodes and expiry
    dates: every sort has a second page, and real cursors to start from."""
    today = timezone.localdate()
    PatronFactory(last_name="Fuzz", home_site=jes)  # out of the librarian's scope
    for number in range(selectors.PAGE_SIZE + 5):
        PatronFactory(
            last_name=f"Fuzz{number % 7}",
            home_site=(ams, ams_branch)[number % 2],
            barcode=None if number % 5 == 0 else f"F{number:05d}",
            expiry_date=None if number % 4 == 0 else today + timedelta(days=number - 20),
        )


@pytest.fixture
def signed_in(client, librarian, listed):
    client.force_login(librarian)
    return client


@pytest.fixture
def real_cursors(signed_in) -> dict[str, list[str]]:
    """The page links the list makes, for every sort, both ways."""
    cursors = {}
    for sort in SORTS:
        page = signed_in.get(LIST, {"sort": sort}).context["page"]
        after = signed_in.get(LIST, {"sort": sort, "after": page.next_cursor}).context["page"]
        cursors[sort] = [page.next_cursor, after.previous_cursor]
    assert all(all(links) for links in cursors.values())
    return cursors


@pytest.fixture
def offered(real_cursors) -> dict:
    """Each parameter's values: those the page offers (its real page links included), or
    anything."""
    every_real = [cursor for links in real_cursors.values() for cursor in links]
    cursor = strategies.keyset_cursors(SORTS, every_real)

    def pks(model) -> list[str]:
        return [str(pk) for pk in model.objects.values_list("pk", flat=True)]

    yes_no = [value for value, _ in YES_NO]
    return {
        "q": strategies.any_value("Fuzz1", "F00001", "fu"),
        "status": strategies.any_value("", selectors.Status.ACTIVE, selectors.Status.INACTIVE),
        "group": strategies.any_value(*pks(SecurityGroup)),
        "site": strategies.any_value(*pks(Site)),
        "patron_type": strategies.any_value(*pks(PatronType)),
        "source": strategies.any_value("", *Patron.Source.values),
        "blocked": strategies.any_value(*yes_no),
        "notes": strategies.any_value(*yes_no),
        "generic": strategies.any_value(*yes_no),
        "owes": strategies.any_value("0", "10", "9.99", "-1", "1.001", "1e30", "abc"),
        "sort": strategies.any_value(*SORTS),
        "after": cursor,
        "before": cursor,
    }


def paging(real_cursors: dict[str, list[str]]):
    """A sort and a cursor made for it, real or with one value replaced: the cursors
    that reach the database."""

    def for_sort(sort: str):
        real = real_cursors[sort]
        cursor = st.one_of(
            strategies.mutated_cursors(real), strategies.keyset_cursors([sort], real)
        )
        return st.tuples(st.sampled_from(["after", "before"]), cursor).map(
            lambda pair: {"sort": sort, pair[0]: pair[1]}
        )

    return st.sampled_from(SORTS).flatmap(for_sort)


@strategies.fuzz_settings
@given(data=st.data())
def test_no_query_string_breaks_the_patron_list(signed_in, real_cursors, offered, data):
    params = data.draw(strategies.query(offered), label="params")
    params |= data.draw(st.one_of(st.just({}), paging(real_cursors)), label="paging")
    headers = data.draw(HEADERS, label="headers")
    with transaction.atomic():  # a failed query would leave the test's transaction unusable
        response = signed_in.get(LIST, params, headers=headers)
        transaction.set_rollback(True)
    assert response.status_code < 500
