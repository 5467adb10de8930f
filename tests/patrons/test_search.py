"""The patron list at /staff/patrons/: one search box, filters, sorting, pages, and the
site scope (issue 3, parts 1 and 7)."""

from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from patrons.forms.search import PatronSearchForm
from patrons.models import Block, BlockType, Identifier, IdentifierType, Note, NoteType, Patron
from patrons.views.search import NO_MATCH, NO_MATCH_FILTERS
from security.models import Level
from tests.factories import PatronFactory, group_at

pytestmark = pytest.mark.django_db

LIST = reverse("patrons:list")
HTMX = {"HX-Request": "true"}
# Session and operator (2), the preferences for the two-factor rule (1), the policy's facts
# (1), the page, its rows when sorted by site, the bounded count, the four lists the
# filters offer (sites, groups, patron types, import feeds).
MAX_QUERIES = 11
# A chosen group, site and patron type are each checked against what is offered (3), and a
# chosen site brings the site tree for its branches (1).
MAX_QUERIES_ALL_FILTERS = MAX_QUERIES + 4


def record_url(patron):
    return reverse("patrons:record", kwargs={"pk": patron.pk})


def names(response) -> list[str]:
    """The patrons listed, as "Last, First" in display order, leaving out the operator
    (whose name the factory made up)."""
    operator = response.wsgi_request.user
    rows = response.context["page"].rows
    return [f"{row.last_name}, {row.first_name}" for row in rows if row.pk != operator.pk]


@pytest.fixture
def jose(ams):
    return PatronFactory(
        first_name="José",
        last_name="Müller",
        barcode="21234000000017",
        username="jmuller",
        email="Jose.Muller@Example.org",
        home_site=ams,
    )


@pytest.fixture
def zoe(ams):
    return PatronFactory(first_name="Zoë", last_name="Okafor", home_site=ams)


@pytest.fixture
def jes_patron(jes):
    return PatronFactory(
        first_name="Jonas", last_name="Müller", barcode="29990000000099", home_site=jes
    )


# --- who may list ---------------------------------------------------------------------------


def test_anonymous_users_are_sent_to_sign_in(client):
    response = client.get(LIST)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_patrons_have_no_staff_list(client, patron):
    client.force_login(patron)
    assert client.get(LIST).status_code == 403
    assert client.get(LIST, {"q": patron.barcode}).status_code == 403


def test_the_navigation_leads_to_the_list(client, aide):
    client.force_login(aide)
    response = client.get(reverse("home"))
    assert {"label": "Patrons", "url": LIST, "active": False} in response.context[
        "staff_navigation"
    ]


QUICK_SEARCH = 'id="topbar-search"'


def test_every_staff_page_offers_the_quick_search(client, aide, patron):
    client.force_login(aide)
    for url in (reverse("home"), reverse("patrons:register"), record_url(patron)):
        page = client.get(url, follow=True).content.decode()
        assert QUICK_SEARCH in page and f'action="{LIST}"' in page
    listing = client.get(LIST).content.decode()
    assert QUICK_SEARCH not in listing  # the list's own box takes "/"
    assert listing.count("data-search") == 1


def test_patrons_get_no_quick_search(client, patron):
    client.force_login(patron)
    assert QUICK_SEARCH not in client.get(reverse("me")).content.decode()


# --- exact hits -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["21234000000017", "jmuller", "JMuller", "jose.muller@example.org", "JOSE.MULLER@EXAMPLE.ORG"],
    ids=["barcode", "username", "username-case", "email", "email-case"],
)
def test_an_exact_hit_opens_the_record(client, librarian, jose, query):
    client.force_login(librarian)
    response = client.get(LIST, {"q": query})
    assert response.status_code == 302
    assert response.url == record_url(jose)


def test_an_identifier_opens_the_record(client, librarian, jose):
    Identifier.objects.create(
        patron=jose, identifier_type=IdentifierType.objects.first(), value="STU-4471"
    )
    client.force_login(librarian)
    response = client.get(LIST, {"q": " STU-4471 "})
    assert (response.status_code, response.url) == (302, record_url(jose))


def test_an_exact_hit_outside_scope_is_not_revealed(client, operator_at_other_site, jose):
    client.force_login(operator_at_other_site)
    for query in [jose.barcode, jose.username, jose.email]:
        response = client.get(LIST, {"q": query})
        assert response.status_code == 200
        assert response.context["page"].rows == []
        assert response.context["page"].count == 0
        assert NO_MATCH.format(query=query) in response.content.decode()


def test_an_exact_hit_among_name_matches_is_listed_with_them(client, librarian, ams):
    owner = PatronFactory(first_name="Ann", last_name="Lee", username="smith", home_site=ams)
    PatronFactory(first_name="Bob", last_name="Smith", home_site=ams)
    client.force_login(librarian)
    response = client.get(LIST, {"q": "smith"})
    assert response.status_code == 200
    assert names(response) == ["Lee, Ann", "Smith, Bob"]
    rows = [row for row in response.context["page"].rows if row.pk != librarian.pk]
    assert [(row.pk == owner.pk, row.exact_hit) for row in rows] == [(True, True), (False, False)]


def test_typing_never_jumps_to_a_record(client, librarian, jose):
    """htmx requests made as the operator types get the results, even for an exact hit."""
    client.force_login(librarian)
    response = client.get(LIST, {"q": jose.barcode}, headers=HTMX)
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b"Exact match" in response.content
    assert response["Vary"] and "HX-Request" in response["Vary"]


# --- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("jose", "Müller, José"),
        ("mull", "Müller, José"),
        ("MÜLLER", "Müller, José"),
        ("ller jos", "Müller, José"),
        ("Müller, José", "Müller, José"),
        ("zoe", "Okafor, Zoë"),
        ("zo", "Okafor, Zoë"),
        ("kaf", "Okafor, Zoë"),
    ],
)
def test_names_are_found_whatever_the_case_and_accents(client, librarian, jose, zoe, query, found):
    client.force_login(librarian)
    response = client.get(LIST, {"q": query})
    assert response.status_code == 200
    assert names(response) == [found]


def test_every_word_must_match(client, librarian, jose, zoe):
    client.force_login(librarian)
    assert names(client.get(LIST, {"q": "jose okafor"})) == []


def test_short_words_match_the_start_of_a_name(client, librarian, jose, zoe):
    client.force_login(librarian)
    assert names(client.get(LIST, {"q": "ok"})) == ["Okafor, Zoë"]
    assert names(client.get(LIST, {"q": "fo"})) == []


def test_preferred_names_are_found_and_shown(client, librarian, ams):
    PatronFactory(
        first_name="Isabella", last_name="Rossi", preferred_first_name="Bella", home_site=ams
    )
    client.force_login(librarian)
    response = client.get(LIST, {"q": "bella ross"})
    assert names(response) == ["Rossi, Isabella"]
    assert "Rossi, Bella" in response.content.decode()


def test_no_match_says_so_and_offers_to_register(client, librarian, jose):
    client.force_login(librarian)
    response = client.get(LIST, {"q": "Nobody"})
    text = response.content.decode()
    assert NO_MATCH.format(query="Nobody") in text
    assert reverse("patrons:register") in text


# --- scope ----------------------------------------------------------------------------------


def test_the_jes_librarian_never_sees_ams_patrons(client, operator_at_other_site, jose, ams, jes):
    PatronFactory.create_batch(3, last_name="Müller", home_site=ams)
    PatronFactory(first_name="Jonas", last_name="Müller", home_site=jes)
    client.force_login(operator_at_other_site)
    for query in [{}, {"q": "müller"}, {"q": "mu"}, {"sort": "site"}]:
        response = client.get(LIST, query)
        listed = response.context["page"].rows
        assert {row.home_site.code for row in listed} == {"JES"}
        assert response.context["count_label"] in {"1 patron", "2 patrons"}  # + the librarian


def test_the_site_filter_offers_sites_in_scope_only(client, operator_at_other_site, ams, jes):
    client.force_login(operator_at_other_site)
    response = client.get(LIST)
    offered = set(response.context["form"].fields["site"].queryset)
    assert offered == {jes}
    refused = client.get(LIST, {"site": ams.pk})
    assert refused.status_code == 200
    assert "Select a valid choice" in refused.content.decode()
    assert {row.home_site for row in refused.context["page"].rows} <= {jes}


# --- filters --------------------------------------------------------------------------------


def listed(client, **params) -> set[str]:
    response = client.get(LIST, {"q": "Filtered", **params})
    assert response.status_code == 200
    return {row.first_name for row in response.context["page"].rows}


@pytest.fixture
def filtered(ams, ams_branch, librarian):
    """Patrons named Filtered, one per filter value."""
    today = timezone.localdate()

    def make(first_name, **fields):
        return PatronFactory(first_name=first_name, last_name="Filtered", **fields)

    patrons = {
        "active": make("Active", home_site=ams, expiry_date=today),
        "expired": make("Expired", home_site=ams, expiry_date=today - timedelta(days=1)),
        "inactive": make("Inactive", home_site=ams, status=Patron.Status.SUSPENDED),
        "staff": make("Staff", home_site=ams_branch, security_group=group_at(Level.LIBRARY_STAFF)),
        "imported": make("Imported", home_site=ams, source=Patron.Source.IMPORT),
        "generic": make("Generic", home_site=ams, is_generic=True),
        "blocked": make("Blocked", home_site=ams),
        "noted": make("Noted", home_site=ams),
    }
    block = {"block_type": BlockType.objects.first(), "owner_site": ams}
    Block.objects.create(patron=patrons["blocked"], **block)
    Block.objects.create(
        patron=patrons["expired"], expires_on=today - timedelta(days=1), **block
    )  # an expired block does not count
    Note.objects.create(
        patron=patrons["noted"], note_type=NoteType.objects.first(), text="Hi", owner_site=ams
    )
    return patrons


EVERYONE = {"Active", "Expired", "Inactive", "Staff", "Imported", "Generic", "Blocked", "Noted"}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, EVERYONE),
        ({"status": "active"}, EVERYONE - {"Expired", "Inactive"}),
        ({"status": "inactive"}, {"Expired", "Inactive"}),
        ({"source": "import"}, {"Imported"}),
        ({"source": "staff"}, EVERYONE - {"Imported"}),
        ({"blocked": "yes"}, {"Blocked"}),
        ({"blocked": "no"}, EVERYONE - {"Blocked"}),
        ({"notes": "yes"}, {"Noted"}),
        ({"notes": "no"}, EVERYONE - {"Noted"}),
        ({"generic": "yes"}, {"Generic"}),
        ({"generic": "no"}, EVERYONE - {"Generic"}),
    ],
)
def test_filters(client, librarian, filtered, params, expected):
    client.force_login(librarian)
    assert listed(client, **params) == expected


def test_filter_by_group_site_and_type(client, librarian, filtered, ams, ams_branch):
    from patrons.models import PatronType

    student = PatronType.objects.create(code="STU", name="Student")
    Patron.objects.filter(first_name="Noted").update(patron_type=student)
    staff_group = group_at(Level.LIBRARY_STAFF)
    client.force_login(librarian)
    assert listed(client, group=staff_group.pk) == {"Staff"}
    assert listed(client, group=group_at(Level.PATRON).pk) == EVERYONE - {"Staff"}
    assert listed(client, site=ams_branch.pk) == {"Staff"}
    assert listed(client, site=ams.pk) == EVERYONE  # a site includes its branches
    assert listed(client, patron_type=student.pk) == {"Noted"}


def test_filters_alone_list_without_a_query(client, librarian, filtered):
    client.force_login(librarian)
    response = client.get(LIST, {"generic": "yes"})
    assert names(response) == ["Filtered, Generic"]
    assert NO_MATCH_FILTERS in client.get(LIST, {"notes": "yes", "blocked": "yes"}).content.decode()


def test_the_list_shows_blocks_notes_and_status(client, librarian, filtered):
    client.force_login(librarian)
    rows = {row.first_name: row for row in client.get(LIST, {"q": "Filtered"}).context["page"].rows}
    assert (rows["Blocked"].active_blocks, rows["Expired"].active_blocks) == (1, 0)
    assert (rows["Noted"].note_count, rows["Active"].note_count) == (1, 0)
    text = client.get(LIST, {"q": "Filtered", "status": "inactive"}).content.decode()
    assert "Expired" in text and "Suspended" in text


# --- sorting and pages ----------------------------------------------------------------------


@pytest.fixture
def three(ams, ams_branch):
    today = timezone.localdate()
    return [
        PatronFactory(
            first_name="Cy", last_name="Öztürk", barcode="B2", home_site=ams, expiry_date=None
        ),
        PatronFactory(
            first_name="Al",
            last_name="de la Cruz",
            barcode="B3",
            home_site=ams_branch,
            expiry_date=today,
        ),
        PatronFactory(
            first_name="Bo",
            last_name="Ng",
            barcode="B1",
            home_site=ams,
            expiry_date=today - timedelta(days=9),
        ),
    ]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["Al", "Bo", "Cy"]),
        ("-name", ["Cy", "Bo", "Al"]),
        ("barcode", ["Bo", "Cy", "Al"]),
        ("expiry", ["Bo", "Al", "Cy"]),  # no expiry date last
        ("-expiry", ["Cy", "Al", "Bo"]),
        ("site", ["Bo", "Cy", "Al"]),  # AMS before AMSB
        ("-site", ["Al", "Cy", "Bo"]),
        ("nonsense", ["Al", "Bo", "Cy"]),
    ],
)
def test_sorting(client, librarian, three, sort, expected):
    client.force_login(librarian)
    response = client.get(LIST, {"sort": sort})
    listed = [row.first_name for row in response.context["page"].rows if row.pk != librarian.pk]
    assert listed == expected


def test_sort_links_toggle_and_keep_the_search(client, librarian, three):
    client.force_login(librarian)
    text = client.get(LIST, {"q": "ng", "sort": "name"}).content.decode()
    assert 'href="?q=ng&amp;sort=-name"' in text
    assert 'href="?q=ng&amp;sort=barcode"' in text


def test_next_and_previous_pages(client, librarian, ams):
    PatronFactory.create_batch(54, last_name="Paged", home_site=ams)
    client.force_login(librarian)
    first = client.get(LIST, {"q": "paged"})
    page = first.context["page"]
    assert (len(page.rows), page.previous_cursor, page.count) == (50, None, 54)
    assert f"after={page.next_cursor}" in first.content.decode()

    second = client.get(LIST, {"q": "paged", "after": page.next_cursor})
    assert len(second.context["page"].rows) == 4
    assert second.context["page"].next_cursor is None
    seen = {row.pk for row in page.rows} | {row.pk for row in second.context["page"].rows}
    assert len(seen) == 54

    back = client.get(LIST, {"q": "paged", "before": second.context["page"].previous_cursor})
    assert [row.pk for row in back.context["page"].rows] == [row.pk for row in page.rows]


def test_a_damaged_cursor_starts_over(client, librarian, three):
    client.force_login(librarian)
    response = client.get(LIST, {"after": "not-a-cursor!"})
    assert response.status_code == 200
    assert len(response.context["page"].rows) == 4


# --- the same work for 5 rows and for 50 ----------------------------------------------------


def test_queries_do_not_grow_with_the_rows(client, librarian, ams, django_assert_max_num_queries):
    def listing(count):
        rows = Patron.objects.filter(last_name="Zqrow")
        for patron in PatronFactory.create_batch(
            count - rows.count(), last_name="Zqrow", home_site=ams
        ):
            Note.objects.create(
                patron=patron, note_type=NoteType.objects.first(), text="x", owner_site=ams
            )
        with (
            django_assert_max_num_queries(MAX_QUERIES),
            CaptureQueriesContext(connection) as queries,
        ):
            response = client.get(LIST, {"q": "zqrow"})
        assert len(response.context["page"].rows) == count
        return len(queries)

    client.force_login(librarian)
    client.get(LIST)  # the session and the policy's facts, once
    assert listing(5) == listing(50)


def test_every_sort_and_page_stays_within_the_bound(
    client, librarian, three, django_assert_max_num_queries
):
    PatronFactory.create_batch(55, last_name="Many", home_site=librarian.home_site)
    client.force_login(librarian)
    client.get(LIST)
    for sort in ["name", "-barcode", "site", "-expiry"]:
        with django_assert_max_num_queries(MAX_QUERIES):
            first = client.get(LIST, {"sort": sort, "status": "active", "blocked": "no"})
        with django_assert_max_num_queries(MAX_QUERIES):
            client.get(LIST, {"sort": sort, "after": first.context["page"].next_cursor})


def test_all_filters_at_once_stay_within_the_bound(
    client, librarian, filtered, ams, django_assert_max_num_queries
):
    from patrons.models import PatronType

    student = PatronType.objects.create(code="STU", name="Student")
    params = {
        "q": "filtered",
        "status": "active",
        "group": group_at(Level.PATRON).pk,
        "site": ams.pk,
        "patron_type": student.pk,
        "source": "staff",
        "blocked": "no",
        "notes": "no",
        "generic": "no",
        "sort": "site",
    }
    client.force_login(librarian)
    client.get(LIST)
    with django_assert_max_num_queries(MAX_QUERIES_ALL_FILTERS):
        response = client.get(LIST, params)
    assert response.status_code == 200


# --- the address bar after a live search (issue 11b) ----------------------------------------


def test_a_live_search_pushes_only_the_parameters_that_are_set(client, librarian, jose):
    """The search form sends every filter, empty or not, and the default sort: the address
    htmx pushes for the operator to bookmark or share names only those that are set."""
    client.force_login(librarian)
    unset = {name: "" for name in PatronSearchForm.FILTERS} | {"sort": "name"}

    def pushed(**params) -> tuple[str, dict]:
        response = client.get(LIST, unset | params, headers=HTMX)
        assert response.status_code == 200
        url = urlsplit(response["HX-Push-Url"])
        return url.path, dict(parse_qsl(url.query, keep_blank_values=True))

    assert pushed(q="müller") == (LIST, {"q": "müller"})
    assert pushed(q="müller", status="active", sort="-expiry") == (
        LIST,
        {"q": "müller", "status": "active", "sort": "-expiry"},
    )
    assert pushed(q=" ", blocked="no") == (LIST, {"blocked": "no"})
    assert pushed(q="") == (LIST, {})
