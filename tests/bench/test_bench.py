"""How fast the demo data loads, and how fast the main pages answer on top of it."""

from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse

from patrons.models import Patron
from tests.bench.conftest import timed

PAGES = [
    ("dashboard", "home", {}),
    ("sites page", "sites:list", {}),
    ("patron list", "patrons:list", {}),
    ("patron search", "patrons:list", {"q": "müller"}),
    ("security groups", "security:groups", {}),
    ("operator log", "security:log", {}),
    ("own account", "me", {}),
    ("preferences", "preferences:edit", {}),
]
USERS = ["demo-district", "demo-librarian"]


def test_seed_demo(seeded):
    print("\n" + seeded.output)


@pytest.mark.django_db
@pytest.mark.parametrize("username", USERS)
@pytest.mark.parametrize(("page", "url_name", "query"), PAGES, ids=[p[0] for p in PAGES])
def test_page(client, seeded, bench_report, page, url_name, query, username):
    try:
        url = reverse(url_name)
    except NoReverseMatch:
        bench_report.add(page, username, "no such URL yet", "", "", "")
        pytest.skip(f"{url_name} is not built yet")
    client.force_login(Patron.objects.get(username=username))
    try:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, query)
        query_count = len(queries)  # read now: the next requests reset the query log
        median, fastest = timed(lambda: client.get(url, query))
    except Exception as error:
        bench_report.add(page, username, f"error: {type(error).__name__}", "", "", "")
        raise
    bench_report.add(
        f"{page} {url}{'?' + urlencode(query) if query else ''}",
        username,
        f"HTTP {response.status_code}",
        f"{median * 1000:.1f} ms",
        f"{fastest * 1000:.1f} ms",
        query_count,
    )


# The patron list at BENCH_PATRONS patrons: "{barcode}" is a barcode the user may see; a
# trailing "next" times the second page (the first page's next-page link).
SEARCHES = [
    ("search: barcode (opens the record)", {"q": "{barcode}"}),
    ("search: name prefix", {"q": "mü"}),
    ("search: name prefix, one letter", {"q": "z"}),
    ("search: name substring", {"q": "ller"}),
    ("search: two words", {"q": "jo mül"}),
    ("search: no match", {"q": "xyzzy"}),
    ("list: filter only, inactive or expired", {"status": "inactive"}),
    ("list: filter only, generic accounts (none)", {"generic": "yes"}),
    (
        "list: filters, active + no block + no notes",
        {"status": "active", "blocked": "no", "notes": "no"},
    ),
    ("list: sorted by site", {"sort": "site"}),
    ("list: sorted by expiry, next page", {"sort": "expiry", "next": True}),
    ("search: name substring, next page", {"q": "ller", "next": True}),
]


@pytest.mark.django_db
@pytest.mark.parametrize("username", USERS)
@pytest.mark.parametrize(("measure", "params"), SEARCHES, ids=[s[0] for s in SEARCHES])
def test_patron_search(client, seeded, bench_barcodes, bench_report, measure, params, username):
    url = reverse("patrons:list")
    client.force_login(Patron.objects.get(username=username))
    query = {
        k: v.format(barcode=bench_barcodes[username]) for k, v in params.items() if k != "next"
    }
    if params.get("next"):
        query["after"] = client.get(url, query).context["page"].next_cursor
        if query["after"] is None:
            pytest.skip("a single page: no next page to time")
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, query)
    query_count = len(queries)
    median, fastest = timed(lambda: client.get(url, query))
    rows = response.context["page"].rows if response.status_code == 200 else []
    bench_report.add(
        f"{measure} ?{urlencode(query)[:60]}",
        username,
        f"HTTP {response.status_code}, {len(rows)} rows"
        if rows
        else f"HTTP {response.status_code}",
        f"{median * 1000:.1f} ms",
        f"{fastest * 1000:.1f} ms",
        query_count,
    )
    assert response.status_code in (200, 302)
