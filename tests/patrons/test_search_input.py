"""Crafted addresses of the patron list (issue 9). A page link's cursor is input like any
other: one the database cannot take (NUL in a name, a lone surrogate, an id beyond bigint,
nesting deeper than the JSON reader goes) shows the first page and says why. A search
without a word, sorted by site, finds nobody. Never an error."""

import base64
import json

import pytest
from django.urls import reverse

from libstaff.paging import CURSOR_DAMAGED, MAX_CURSOR_LENGTH
from patrons import selectors
from patrons.views.search import NO_MATCH
from tests.factories import PatronFactory

pytestmark = pytest.mark.django_db

LIST = reverse("patrons:list")
HTMX = {"HX-Request": "true"}


def cursor_of(payload) -> str:
    """A cursor as the pages write one (patrons.selectors.encode_cursor), of any payload."""
    text = json.dumps(payload, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.fixture
def listed(ams):
    return [PatronFactory(last_name=name, home_site=ams) for name in ("Ames", "Boyd", "Cole")]


def first_page_pks(client) -> list[int]:
    return [row.pk for row in client.get(LIST).context["page"].rows]


CRAFTED = {
    "NUL in the name": ["name", ["\u0000", 1]],
    "NUL in the name, descending": ["-name", ["Boyd\u0000", 1]],
    "NUL in the site code": ["site", ["AMS\u0000", "boyd", 1]],
    "NUL in the name of the site sort": ["site", ["AMS", "\u0000", 1]],
    "NUL in the barcode": ["barcode", [False, "\u0000", 1]],
    "NUL in the name of the expiry sort": ["expiry", ["2030-01-01", "\u0000", 1]],
    "a lone surrogate": ["name", ["\ud800", 1]],
    "an id beyond bigint": ["name", ["boyd", 2**63]],
    "an id beyond bigint, by site": ["site", ["AMS", "boyd", 10**30]],
    "a negative id": ["name", ["boyd", -1]],
    "a bool for an id": ["name", ["boyd", True]],
    "a float for an id": ["name", ["boyd", 1.5]],
    "a number for a name": ["name", [7, 1]],
    "a number for a date": ["expiry", [20300101, "boyd", 1]],
    "not a date": ["expiry", ["2030-02-30", "boyd", 1]],
    "a string for the values": ["name", "ab"],
    "too few values": ["name", ["boyd"]],
}


@pytest.mark.parametrize("direction", ["after", "before"])
@pytest.mark.parametrize("payload", CRAFTED.values(), ids=CRAFTED.keys())
def test_a_cursor_the_database_cannot_take_shows_the_first_page(
    client, librarian, listed, payload, direction
):
    client.force_login(librarian)
    expected = first_page_pks(client)
    for headers in ({}, HTMX):
        response = client.get(
            LIST, {"sort": payload[0], direction: cursor_of(payload)}, headers=headers
        )
        assert response.status_code == 200
        page = response.context["page"]
        assert sorted(row.pk for row in page.rows) == sorted(expected)
        assert page.notice == CURSOR_DAMAGED
        assert CURSOR_DAMAGED in response.content.decode()


@pytest.mark.parametrize(
    "cursor",
    [
        base64.urlsafe_b64encode(b"[" * 5000).decode(),  # deeper than json.loads recurses
        "A" * (MAX_CURSOR_LENGTH + 1),
        "not-a-cursor!",
        "é",
    ],
    ids=["deep nesting", "too long", "not base64", "not ASCII"],
)
def test_a_cursor_that_cannot_be_read_shows_the_first_page(client, librarian, listed, cursor):
    client.force_login(librarian)
    response = client.get(LIST, {"after": cursor})
    assert response.status_code == 200
    assert len(response.context["page"].rows) == len(listed) + 1  # and the librarian
    assert CURSOR_DAMAGED in response.content.decode()


def test_the_cursors_the_pages_make_are_read_without_a_notice(client, librarian, ams):
    PatronFactory.create_batch(selectors.PAGE_SIZE + 2, last_name="Østergaard", home_site=ams)
    client.force_login(librarian)
    for sort in selectors.SORTS:
        first = client.get(LIST, {"sort": sort}).context["page"]
        second = client.get(LIST, {"sort": sort, "after": first.next_cursor})
        assert second.context["page"].notice == ""
        assert CURSOR_DAMAGED not in second.content.decode()
        assert len(second.context["page"].rows) == 3


@pytest.mark.parametrize("paged", [False, True])
@pytest.mark.parametrize("sort", ["site", "-site"])
@pytest.mark.parametrize("query", ["-", ":", "..."])
def test_a_search_without_a_word_sorted_by_site_finds_nobody(
    client, librarian, listed, query, sort, paged
):
    """No word and no exact hit: nothing can match, on any page of any sort."""
    client.force_login(librarian)
    params = {"q": query, "sort": sort}
    if paged:
        params["after"] = cursor_of([sort, ["AMS", "boyd", listed[1].pk]])
    for headers in ({}, HTMX):
        response = client.get(LIST, params, headers=headers)
        assert response.status_code == 200
        assert NO_MATCH.format(query=query) in response.content.decode()
