"""patrons.selectors.patron_search: matching, keyset pages, bounded counts, and the indexes
its queries are written to use."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from patrons import selectors
from patrons.selectors import PatronFilters, patron_search, search_words
from security.models import Level
from tests.factories import OperatorFactory, PatronFactory, SiteFactory

pytestmark = pytest.mark.django_db


def found(operator, query="", **kwargs) -> list[str]:
    """Last names found, leaving out the operator (whose name the factory made up)."""
    rows = patron_search(operator=operator, query=query, **kwargs).rows
    return [row.last_name for row in rows if row.pk != operator.pk]


def all_pages(operator, sort, page_size=2, **kwargs) -> list[int]:
    """Every row, page after page, following the next cursors."""
    seen, after = [], ""
    while True:
        page = patron_search(
            operator=operator, sort=sort, after=after, page_size=page_size, **kwargs
        )
        seen += [row.pk for row in page.rows]
        if page.next_cursor is None:
            return seen
        after = page.next_cursor


@pytest.fixture
def people(ams, ams_branch):
    today = timezone.localdate()
    specs = [
        ("Renée", "Lefèvre", "A10", ams, today),
        ("Søren", "Bergström", "A02", ams_branch, None),
        ("Łukasz", "O'Brien", None, ams, today - timedelta(days=3)),
        ("Ana", "Smith-Jones", "A07", ams_branch, today + timedelta(days=30)),
        ("Ana", "Smith", "A01", ams, None),
    ]
    return [
        PatronFactory(
            first_name=first, last_name=last, barcode=barcode, home_site=site, expiry_date=expiry
        )
        for first, last, barcode, site, expiry in specs
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("renee lefevre", ["Lefèvre"]),
        ("soren", ["Bergström"]),
        ("BERGSTROM", ["Bergström"]),
        ("lukasz", ["O'Brien"]),
        ("obrien", ["O'Brien"]),
        ("o'brien", ["O'Brien"]),
        ("jones", ["Smith-Jones"]),
        ("smith", ["Smith", "Smith-Jones"]),
        ("ana sm", ["Smith", "Smith-Jones"]),
        ("an", ["Smith", "Smith-Jones"]),
        ("%", []),
        ("_a", []),
        ("---", []),
    ],
)
def test_name_matching(librarian, people, query, expected):
    assert found(librarian, query) == expected


def test_words_split_on_spaces_and_commas():
    assert search_words("Müller,  Jonas , ") == ["Müller", "Jonas"]
    assert search_words(" - ") == []


@pytest.mark.parametrize("sort", ["name", "-name", "barcode", "-barcode", "expiry", "site"])
def test_pages_cover_every_row_once_in_order(librarian, people, sort):
    whole = [row.pk for row in patron_search(operator=librarian, sort=sort).rows]
    assert all_pages(librarian, sort) == whole
    assert len(whole) == len(people) + 1  # and the librarian


def test_previous_pages_mirror_next_pages(librarian, people):
    first = patron_search(operator=librarian, sort="site", page_size=2)
    second = patron_search(operator=librarian, sort="site", page_size=2, after=first.next_cursor)
    back = patron_search(
        operator=librarian, sort="site", page_size=2, before=second.previous_cursor
    )
    assert [row.pk for row in back.rows] == [row.pk for row in first.rows]
    assert back.previous_cursor is None and back.next_cursor is not None


def test_a_cursor_is_only_good_for_its_own_sort(librarian, people):
    page = patron_search(operator=librarian, sort="name", page_size=2)
    other = patron_search(operator=librarian, sort="barcode", page_size=2, after=page.next_cursor)
    assert other.previous_cursor is None  # started over at the first page


def test_the_count_is_bounded(librarian, people, monkeypatch):
    # The librarian's own name is random: never a third Smith in the count.
    librarian.first_name = librarian.last_name = "Operator"
    librarian.save()
    monkeypatch.setattr(selectors, "COUNT_LIMIT", 3)
    page = patron_search(operator=librarian, page_size=2)
    assert (page.count, page.count_is_bounded) == (4, True)
    small = patron_search(operator=librarian, query="smith", page_size=2)
    assert (small.count, small.count_is_bounded) == (2, False)


def test_the_scope_is_applied_before_anything_else(operator_at_other_site, people, jes):
    # The JES operator's own name is random: never a second Smith at JES.
    operator_at_other_site.first_name = operator_at_other_site.last_name = "Operator"
    operator_at_other_site.save()
    PatronFactory(last_name="Smith", home_site=jes)
    page = patron_search(operator=operator_at_other_site, query="smith")
    assert [row.home_site for row in page.rows] == [jes]
    assert page.count == 1
    by_barcode = patron_search(operator=operator_at_other_site, query="A01")
    assert (by_barcode.rows, by_barcode.exact_hit) == ([], None)


def test_only_a_single_exact_hit_is_one(librarian, people):
    assert patron_search(operator=librarian, query="A07").exact_hit == people[3]
    page = patron_search(operator=librarian, query="smith")
    assert page.exact_hit is None


def test_the_site_filter_includes_branches(librarian, people, ams, ams_branch):
    branch_only = found(librarian, filters=PatronFilters(site=ams_branch))
    assert branch_only == ["Bergström", "Smith-Jones"]
    assert len(found(librarian, filters=PatronFilters(site=ams))) == len(people)


# --- the indexes the queries use --------------------------------------------------------------


def plan_of(operator, *, off=("seqscan", "sort"), analyze=True, **kwargs) -> str:
    """EXPLAIN of the queries of patron_search, with some plans priced out of reach (a
    test database is too small for the planner to prefer an index on its own). First the
    planner gets statistics of this test's own rows (`analyze`, rolled back with the test):
    otherwise a choice between two indexes follows whatever rows other tests committed
    before autovacuum last sampled the table."""
    patron_search(operator=operator, **kwargs)  # the policy's facts, read once per operator
    with CaptureQueriesContext(connection) as queries:
        patron_search(operator=operator, **kwargs)
    plans = []
    with connection.cursor() as cursor:
        if analyze:
            cursor.execute("ANALYZE patrons_patron, sites_site")
        for setting in off:
            cursor.execute(f"SET LOCAL enable_{setting} = off")
        for query in queries.captured_queries:
            cursor.execute(f"EXPLAIN {query['sql']}")
            plans.extend(row[0] for row in cursor.fetchall())
    return "\n".join(plans)


@pytest.mark.parametrize(
    ("kwargs", "index"),
    [
        ({"query": "müll"}, "patron_search_name_trgm"),
        ({"query": "mü"}, "patron_search_name_trgm"),
        ({"query": "A01"}, "patrons_patron_barcode"),
        ({"query": "Some.User"}, "patron_username_unique_ci"),
        ({"query": "Some@Example.org"}, "patron_email_ci"),
        ({"filters": PatronFilters(source="import")}, "patron_source"),
    ],
)
def test_the_searches_can_use_their_indexes(district_admin, people, kwargs, index):
    """Bitmap scans only: each needs an index whose expression matches the query's. (The
    District Administrator has no scope condition, whose index would serve as well.)"""
    assert index in plan_of(district_admin, off=("seqscan", "indexscan", "indexonlyscan"), **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "index"),
    [
        ({"sort": "name"}, "patron_sort_name"),
        ({"sort": "-barcode"}, "patron_barcode_sort"),
        ({"sort": "expiry"}, "patron_expiry_sort"),
        ({"filters": PatronFilters(is_generic=True)}, "patron_generic_sort"),
    ],
)
def test_the_orders_can_come_from_their_indexes(librarian, people, kwargs, index):
    assert index in plan_of(librarian, **kwargs)


def test_the_next_page_starts_in_the_index(librarian, people):
    cursor = patron_search(operator=librarian, page_size=2).next_cursor
    plan = plan_of(librarian, page_size=2, after=cursor)
    assert "patron_sort_name" in plan and "Index Cond: (ROW(sort_name, id) >" in plan


def test_sorting_by_site_reads_each_site_in_name_order(librarian, people):
    assert "patron_site_sort" in plan_of(librarian, sort="site", analyze=True)


def test_a_name_search_in_list_order_reads_only_the_name_index(
    librarian, district_admin, people, district
):
    """The page's ids can come from a name index alone (it includes search_name and the
    site): matching names far apart in the list cost index entries, not table rows."""
    off = ("seqscan", "bitmapscan", "indexscan", "sort")
    lone_site = SiteFactory(code="LONE", parent=district)  # no branches: one site in scope
    one_site = OperatorFactory(level=Level.LIBRARIAN, home_site=lone_site)
    assert "Index Only Scan using patron_site_sort" in plan_of(one_site, off=off, query="ller")
    for several_sites in (librarian, district_admin):  # AMS and its branch; every site
        plan = plan_of(several_sites, off=off, query="ller")
        assert "Index Only Scan using patron_sort_name" in plan
