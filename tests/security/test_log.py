"""The operator log: sign-in events, every staff action of the patron and site services with
the acting operator and address, the page (scope, filters, keyset pages, bounded queries)
and its streamed CSV export."""

import csv
import io
import json
from datetime import date, datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import StreamingHttpResponse
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from libstaff.csv_stream import safe_cell
from patrons import services
from patrons.models import Patron
from patrons.services import EmailEntry, PhoneEntry
from security import log, policy, selectors
from security.forms.log import DATES_REVERSED
from security.middleware import client_ip
from security.models import Grant, Level, OperatorAction
from security.views.log import NO_CHANGES, NO_ENTRIES
from sites import services as site_services
from tests.factories import DEFAULT_PASSWORD, OperatorFactory, PatronFactory, group_at

pytestmark = pytest.mark.django_db

Kind = OperatorAction.Kind
LOG = reverse("security:log")
EXPORT = reverse("security:log_export")
IP = "198.51.100.7"


def entries(**lookup) -> list[OperatorAction]:
    return list(OperatorAction.objects.filter(**lookup).order_by("id"))


def only_entry(**lookup) -> OperatorAction:
    found = entries(**lookup)
    assert len(found) == 1, found
    return found[0]


@pytest.fixture
def from_ip():
    """Services called while a request from IP is served."""
    token = log.current_ip.set(IP)
    yield IP
    log.current_ip.reset(token)


@pytest.fixture
def jes_admin(jes):
    return OperatorFactory(username="jesadmin", level=Level.LIBRARY_ADMINISTRATOR, home_site=jes)


def sign_in(client, username, password=DEFAULT_PASSWORD, **extra):
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


def signed_in(client, user):
    """Signed in without a line of its own: these tests read other entries."""
    client.force_login(user)
    OperatorAction.objects.filter(action=Kind.LOGIN, operator=user).delete()


# --- the client address ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("proxies", "forwarded", "remote", "expected"),
    [
        (0, "203.0.113.5", "10.0.0.1", "10.0.0.1"),  # no proxy trusted: the header is ignored
        (1, "203.0.113.5", "10.0.0.1", "203.0.113.5"),
        (1, "6.6.6.6, 203.0.113.5", "10.0.0.1", "203.0.113.5"),  # a forged entry is skipped
        (2, "6.6.6.6, 203.0.113.5, 10.0.0.2", "10.0.0.1", "203.0.113.5"),
        (2, "203.0.113.5", "10.0.0.1", "10.0.0.1"),  # fewer hops than proxies: not through them
        (1, "", "10.0.0.1", "10.0.0.1"),
        (1, "2001:db8::1", "10.0.0.1", "2001:db8::1"),
        (1, "not-an-address", "10.0.0.1", None),
        (0, "", "garbage", None),
    ],
)
def test_the_client_address_trusts_only_the_configured_proxies(
    settings, proxies, forwarded, remote, expected
):
    settings.LIBSTAFF_TRUSTED_PROXIES = proxies
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_the_proxy_setting_defaults_to_none_trusted():
    assert django_settings.LIBSTAFF_TRUSTED_PROXIES == 0


def test_the_address_is_known_during_the_request_only(client, librarian):
    sign_in(client, "librarian", REMOTE_ADDR="203.0.113.9")
    assert only_entry(action=Kind.LOGIN).ip_address == "203.0.113.9"
    assert log.current_ip.get() is None


def test_behind_a_trusted_proxy_the_forwarded_address_is_logged(client, librarian, settings):
    settings.LIBSTAFF_TRUSTED_PROXIES = 1
    sign_in(client, "librarian", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert only_entry(action=Kind.LOGIN).ip_address == "203.0.113.9"


# --- signing in and out ---------------------------------------------------------------------


def test_signing_in_and_out_is_logged_at_the_operators_home_site(client, librarian, ams):
    sign_in(client, "librarian")
    client.post(reverse("logout"))

    signed_in, signed_out = entries(action__in=[Kind.LOGIN, Kind.LOGOUT])
    assert (signed_in.action, signed_out.action) == (Kind.LOGIN, Kind.LOGOUT)
    for entry in (signed_in, signed_out):
        assert (entry.operator, entry.operator_name, entry.site) == (librarian, "librarian", ams)
        assert entry.ip_address == "127.0.0.1"


def test_a_failed_sign_in_keeps_the_typed_name_never_the_password(client, librarian, ams):
    sign_in(client, "LIBRARIAN", "Secret-Guess-99")

    entry = only_entry(action=Kind.LOGIN_FAILED)
    assert entry.operator is None
    assert entry.operator_name == "LIBRARIAN"
    # The account it names, so that the administrators of its site see attempts on it.
    assert (entry.patron, entry.site) == (librarian, ams)
    stored = json.dumps([entry.operator_name, entry.object_repr, entry.details])
    assert "Secret-Guess-99" not in stored
    assert not OperatorAction.objects.filter(action=Kind.LOGIN).exists()


def test_a_failed_sign_in_with_an_unknown_name_belongs_to_no_site(client, librarian):
    sign_in(client, "nobody-here")

    entry = only_entry(action=Kind.LOGIN_FAILED)
    assert (entry.operator_name, entry.patron, entry.site) == ("nobody-here", None, None)


def test_whatever_name_a_client_sends_is_stored_safely(client, librarian):
    response = sign_in(client, "x" * 254)

    assert response.status_code == 422
    assert only_entry(action=Kind.LOGIN_FAILED).operator_name == "x" * 150
    # A name the form refuses never reaches authentication; a direct signal is cleaned too.
    user_login_failed.send(
        sender=__name__, credentials={"username": "a\x00b", "password": "********"}
    )
    assert entries(action=Kind.LOGIN_FAILED)[-1].operator_name == "ab"


def test_a_lockout_is_logged_and_so_is_every_attempt_while_locked(client, librarian, ams):
    limit = django_settings.AXES_FAILURE_LIMIT
    for _ in range(limit):
        sign_in(client, "librarian", "Wrong2024")

    # One line per attempt: the attempt that locks the account is the lockout.
    assert len(entries(action=Kind.LOGIN_FAILED)) == limit - 1
    locked = only_entry(action=Kind.LOCKED_OUT)
    assert (locked.operator_name, locked.patron, locked.site) == ("librarian", librarian, ams)
    assert locked.details == {"failures": limit}

    assert sign_in(client, "librarian").status_code == 429  # the right password, too late
    assert len(entries(action=Kind.LOCKED_OUT)) == 2
    assert not OperatorAction.objects.filter(action=Kind.LOGIN).exists()


# --- every staff action of the services -----------------------------------------------------


def test_registering_a_patron_is_logged(librarian, ams, from_ip):
    created = services.patron_create(actor=librarian, home_site=ams, last_name="Lovelace")

    entry = only_entry(action=Kind.PATRON_CREATED)
    assert (entry.operator, entry.patron, entry.site, entry.ip_address) == (
        librarian,
        created,
        ams,
        IP,
    )
    assert entry.details == {"group": str(group_at(Level.PATRON))}


def test_a_tab_save_logs_the_fields_it_changed_old_and_new(librarian, ams, from_ip):
    patron = PatronFactory(home_site=ams, last_name="Byron", cohort="2030")
    services.patron_update(
        actor=librarian,
        patron=patron,
        action="patrons.edit_personal",
        version=patron.version,
        last_name="Lovelace",
        cohort="2030",
        birth_date=date(2012, 12, 10),
        status=Patron.Status.SUSPENDED,
    )

    entry = only_entry(action=Kind.PATRON_CHANGED)
    assert (entry.operator, entry.patron, entry.site, entry.ip_address) == (
        librarian,
        patron,
        ams,
        IP,
    )
    assert entry.details == {
        "changes": {
            "last_name": ["Byron", "Lovelace"],
            "birth_date": [None, "2012-12-10"],
            "status": ["active", "suspended"],
        }
    }


@pytest.mark.usefixtures("librarians_give_staff_groups")
def test_the_access_tab_logs_that_secrets_changed_never_their_values(
    librarian, ams, ams_branch, from_ip
):
    patron = PatronFactory(home_site=ams, username="ada")
    services.patron_update_access(
        actor=librarian,
        patron=patron,
        version=patron.version,
        security_group=group_at(Level.LIBRARY_STAFF),
        username="ada.l",
        sites=[ams, ams_branch],
        must_change_password=True,
        password="Analytical2025",
        pin="4321",
    )

    patron.refresh_from_db()
    entry = only_entry(action=Kind.PATRON_CHANGED)
    changes = entry.details["changes"]
    assert changes == {
        "security_group": [str(group_at(Level.PATRON)), str(group_at(Level.LIBRARY_STAFF))],
        "username": ["ada", "ada.l"],
        "must_change_password": [False, True],
        "password": log.CHANGED,
        "pin": log.CHANGED,
        "site_access": [[], sorted([str(ams), str(ams_branch)])],
    }
    stored = json.dumps(entry.details)
    for secret in ("Analytical2025", "4321", patron.password, patron.pin):
        assert secret not in stored


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (
            lambda actor, patron, site: services.patron_assign_group(
                actor=actor, patron=patron, group=group_at(Level.LIBRARY_AIDE)
            ),
            lambda site: {
                "security_group": [str(group_at(Level.PATRON)), str(group_at(Level.LIBRARY_AIDE))]
            },
        ),
        (
            lambda actor, patron, site: services.patron_set_site_access(
                actor=actor, patron=patron, sites=[site]
            ),
            lambda site: {"site_access": [[], [str(site)]]},
        ),
        (
            lambda actor, patron, site: services.patron_set_status(
                actor=actor, patron=patron, status=Patron.Status.CARD_LOST
            ),
            lambda site: {"status": ["active", "card_lost"]},
        ),
        (
            lambda actor, patron, site: services.patron_set_password(
                actor=actor, patron=patron, password="Difference2025", must_change=True
            ),
            lambda site: {"password": log.CHANGED, "must_change_password": [False, True]},
        ),
    ],
    ids=["assign_group", "set_site_access", "set_status", "set_password"],
)
@pytest.mark.usefixtures("librarians_give_staff_groups")
def test_each_patron_service_logs_one_line_with_what_changed(
    librarian, ams, from_ip, call, expected
):
    patron = PatronFactory(home_site=ams)
    call(librarian, patron, ams)

    entry = only_entry()
    assert (entry.action, entry.operator, entry.patron, entry.site, entry.ip_address) == (
        Kind.PATRON_CHANGED,
        librarian,
        patron,
        ams,
        IP,
    )
    assert entry.details == {"changes": expected(ams)}


def test_a_deleted_patron_stays_named_in_the_log(librarian, ams, from_ip):
    patron = PatronFactory(home_site=ams, first_name="Ada", last_name="Lovelace", barcode="P42")
    services.patron_set_status(actor=librarian, patron=patron, status=Patron.Status.INACTIVE)
    services.patron_delete(actor=librarian, patron=patron)

    deleted = only_entry(action=Kind.PATRON_DELETED)
    assert (deleted.operator, deleted.patron, deleted.site, deleted.ip_address) == (
        librarian,
        None,
        ams,
        IP,
    )
    assert deleted.object_repr == "Ada Lovelace (P42)"
    assert deleted.details == {
        "name": "Ada Lovelace",
        "barcode": "P42",
        "username": patron.username,
    }
    # The earlier entry lost its link too, not its name.
    assert only_entry(action=Kind.PATRON_CHANGED).object_repr == "Ada Lovelace (P42)"


def test_a_contact_save_logs_the_kinds_of_rows_it_changed(staff, ams, from_ip):
    patron = PatronFactory(home_site=ams, email="", language="en")
    services.patron_contact_update(
        actor=staff,
        patron=patron,
        version=patron.version,
        fields={"language": "fr"},
        emails=[EmailEntry("ada@example.org")],
        addresses=[],
        phones=[PhoneEntry("555 123 4567")],
        guardians=[],
    )

    entry = only_entry(action=Kind.PATRON_CHANGED)
    assert (entry.operator, entry.patron, entry.site, entry.ip_address) == (staff, patron, ams, IP)
    assert entry.details["rows"] == {"emails": {"added": 1}, "phones": {"added": 1}}
    assert entry.details["changes"]["language"] == ["en", "fr"]
    assert entry.details["changes"]["email"] == ["", "ada@example.org"]


def test_sites_created_and_changed_are_logged(library_admin, ams, from_ip):
    branch = site_services.site_create(actor=library_admin, code="AMS2", name="Annex", parent=ams)
    policy.forget(library_admin)  # a new request would know the new site
    site_services.site_update(
        actor=library_admin, site=branch, code="AMS2", name="New Annex", kind="branch", parent=ams
    )

    created, changed = entries(action__in=[Kind.SITE_CREATED, Kind.SITE_CHANGED])
    for entry in (created, changed):
        assert (entry.operator, entry.site, entry.ip_address, entry.patron) == (
            library_admin,
            branch,
            IP,
            None,
        )
        assert (entry.object_type, entry.object_id) == ("sites.site", str(branch.pk))
    assert created.action == Kind.SITE_CREATED
    assert changed.details == {
        "changes": {"name": ["Annex", "New Annex"], "kind": ["library", "branch"]}
    }


def test_a_refused_action_logs_nothing(librarian, jes):
    outside = PatronFactory(home_site=jes)
    with pytest.raises(PermissionDenied):
        services.patron_delete(actor=librarian, patron=outside)
    with pytest.raises(PermissionDenied):
        services.patron_set_status(actor=librarian, patron=outside, status=Patron.Status.INACTIVE)
    assert not OperatorAction.objects.exists()


# --- who reads what -------------------------------------------------------------------------


@pytest.fixture
def logged(district, ams, ams_branch, jes):
    """One entry at each site, and one of no site."""
    return {
        site.code: log.record(Kind.PATRON_CHANGED, operator_name=f"op-{site.code}", site=site)
        for site in (district, ams, ams_branch, jes)
    } | {None: log.record(Kind.LOGIN_FAILED, operator_name="op-nowhere")}


def readable(operator) -> set:
    return {entry.operator_name for entry in selectors.operator_action_list(operator=operator)}


def test_a_district_administrator_reads_every_entry(district_admin, logged):
    assert readable(district_admin) == {
        "op-DIST",
        "op-AMS",
        "op-AMSB",
        "op-JES",
        "op-nowhere",
    }


def test_a_library_administrator_reads_their_sites_and_branches_only(
    library_admin, jes_admin, logged
):
    assert readable(library_admin) == {"op-AMS", "op-AMSB"}
    assert readable(jes_admin) == {"op-JES"}


def test_an_explicit_grant_of_the_log_opens_that_site_only(librarian, jes, logged):
    assert readable(librarian) == set()
    Grant.objects.create(
        operator=librarian,
        permission=Permission.objects.get(codename="view_operator_log"),
        site=jes,
    )
    policy.forget(librarian)
    assert readable(librarian) == {"op-JES"}


@pytest.mark.parametrize("role", ["aide", "staff", "librarian", "patron"])
def test_operators_without_the_permission_are_refused(client, roles, role, logged):
    client.force_login(roles[role])
    assert client.get(LOG).status_code == 403
    assert client.get(EXPORT).status_code == 403
    assert readable(roles[role]) == set()


def test_an_ams_administrator_never_sees_jes_entries(client, library_admin, jes, ams):
    jes_patron = PatronFactory(home_site=jes, barcode="J0001", username="jespatron")
    jes_operator = OperatorFactory(username="jesop", level=Level.LIBRARIAN, home_site=jes)
    services.patron_set_status(
        actor=jes_operator, patron=jes_patron, status=Patron.Status.CARD_LOST
    )
    log.record(Kind.LOGIN, operator=jes_operator)
    log.record(Kind.PATRON_CHANGED, operator_name="visible-at-ams", site=ams)
    signed_in(client, library_admin)

    crafted = [
        "",
        "?operator=jesop",
        "?patron=J0001",
        "?patron=jespatron",
        f"?action={Kind.PATRON_CHANGED}",
        "?after=99999999999999999.999999",
    ]
    for query in crafted:
        # The results (the page's own form repeats what was typed).
        results = client.get(LOG + query, headers={"HX-Request": "true"}).content.decode()
        export = b"".join(client.get(EXPORT + query).streaming_content).decode()
        for text in (results, export):
            assert "jesop" not in text and "J0001" not in text and "JES" not in text
        if not query:
            assert "visible-at-ams" in results and "visible-at-ams" in export


def test_the_log_cannot_be_written_through_its_pages(client, library_admin, logged):
    signed_in(client, library_admin)
    before = list(OperatorAction.objects.values().order_by("id"))
    for url in (LOG, EXPORT):
        response = client.post(url, {"operator_name": "forged", "action": Kind.LOGIN})
        assert response.status_code == 405
    assert list(OperatorAction.objects.values().order_by("id")) == before


# --- the page -------------------------------------------------------------------------------


def test_the_page_shows_who_did_what_to_whom_from_where(client, library_admin, librarian, ams):
    patron = PatronFactory(home_site=ams, first_name="Ada", last_name="Lovelace", barcode="P7")
    token = log.current_ip.set(IP)
    services.patron_set_status(actor=librarian, patron=patron, status=Patron.Status.SUSPENDED)
    log.current_ip.reset(token)
    signed_in(client, library_admin)

    response = client.get(LOG)
    assert response.status_code == 200
    row = response.context["rows"][0]
    assert row.entry.operator_name == "librarian"
    assert (row.patron, row.patron_url) == (
        "Ada Lovelace (P7)",
        reverse("patrons:record", args=[patron.pk]),
    )
    assert row.summary == "Status: Active → Suspended"
    html = response.content.decode()
    for text in ("librarian", "Patron changed", "Ada Lovelace (P7)", "AMS", IP):
        assert text in html


def test_a_patron_out_of_the_readers_scope_is_named_without_a_link(client, library_admin, ams, jes):
    moved = PatronFactory(home_site=jes, first_name="Moved", last_name="Away", barcode="M1")
    log.record(Kind.PATRON_CHANGED, operator_name="x", patron=moved, site=ams)
    signed_in(client, library_admin)

    row = client.get(LOG).context["rows"][0]
    assert (row.patron, row.patron_url) == ("Moved Away (M1)", None)


def test_details_read_as_words(client, district_admin, ams):
    log.record(Kind.PATRON_CHANGED, operator_name="a", site=ams, details={"changes": {}})
    log.record(
        Kind.PATRON_CHANGED,
        operator_name="b",
        site=ams,
        details={
            "changes": {"password": log.CHANGED, "email": ["", "a@example.org"]},
            "rows": {"guardians": {"added": 1, "removed": 2}},
        },
    )
    signed_in(client, district_admin)

    summaries = [row.summary for row in client.get(LOG).context["rows"]]
    changed, rows = summaries[0].rsplit("; ", 1)
    assert set(changed.split("; ")) == {"Password changed", "Primary email: — → a@example.org"}
    assert rows == "Contacts: 1 added, 2 removed"
    assert summaries[1] == NO_CHANGES


def test_details_of_any_shape_are_shown(client, district_admin, ams):
    """Other services write their own details (groups, grants): the page never breaks."""
    log.record(
        Kind.GROUP_CHANGED,
        operator_name="g",
        site=ams,
        details={
            "changes": {"permissions": {"added": ["patrons.edit_notes"], "removed": []}},
            "rows": ["odd"],
            "level": 3,
        },
    )
    signed_in(client, district_admin)

    response = client.get(LOG)
    assert response.status_code == 200
    summary = response.context["rows"][0].summary
    assert "Permissions: added: patrons.edit_notes, removed: —" in summary
    assert "Level: 3" in summary


@pytest.fixture
def varied(district_admin, librarian, staff, ams, jes):
    """Entries of two operators, on two patrons, over three days."""
    ada = PatronFactory(home_site=ams, barcode="A1", username="ada")
    bob = PatronFactory(home_site=ams, barcode="B2", username="bob")
    made = [
        log.record(Kind.PATRON_CHANGED, operator=librarian, patron=ada),
        log.record(Kind.PATRON_CHANGED, operator=staff, patron=bob),
        log.record(Kind.LOGIN, operator=librarian),
        log.record(Kind.LOGIN_FAILED, operator_name="Mallory"),
    ]
    days = [date(2025, 3, 1), date(2025, 3, 2), date(2025, 3, 3), date(2025, 3, 3)]
    for entry, day in zip(made, days, strict=True):
        at = timezone.make_aware(datetime.combine(day, datetime.min.time()) + timedelta(hours=12))
        OperatorAction.objects.filter(pk=entry.pk).update(at=at)
    return made


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", [3, 2, 1, 0]),
        ("?operator=LIBRARIAN", [2, 0]),
        ("?operator=mallory", [3]),  # a name typed at a failed sign-in
        (f"?action={Kind.LOGIN}", [2]),
        ("?patron=A1", [0]),
        ("?patron=Bob", [1]),
        ("?date_from=2025-03-02", [3, 2, 1]),
        ("?date_to=2025-03-02", [1, 0]),
        ("?date_from=2025-03-02&date_to=2025-03-02", [1]),
        ("?operator=librarian&date_from=2025-03-02", [2]),
        ("?patron=nobody", []),
    ],
)
def test_filters(client, district_admin, varied, query, expected):
    signed_in(client, district_admin)
    response = client.get(LOG + query)
    assert [row.entry.pk for row in response.context["rows"]] == [varied[i].pk for i in expected]
    if not expected:
        assert NO_ENTRIES in response.content.decode()


def test_the_operator_filter_finds_the_failed_sign_ins_that_named_the_account(
    client, district_admin, library_admin, librarian, jes_admin, settings
):
    """An attempt that names an account, by username or email, is linked to it as the patron
    (whoever typed it is unknown: never as the operator) and found by its username; a name
    no account has keeps the typed name only. Each reader finds them within their scope."""
    settings.AXES_FAILURE_LIMIT = 2
    sign_in(client, "LIBRARIAN", "Wrong2024", REMOTE_ADDR="198.51.100.1")
    for _ in range(2):  # the second attempt locks the account from that address
        sign_in(client, "Librarian@Example.org", "Wrong2024", REMOTE_ADDR="198.51.100.2")
    sign_in(client, "jesadmin", "Wrong2024")
    sign_in(client, "nobody-here", "Wrong2024")
    log.record(Kind.LOGIN, operator=librarian)

    signed_in(client, library_admin)
    rows = client.get(LOG + "?operator=librarian").context["rows"]
    assert [(row.entry.action, row.entry.operator_name) for row in rows] == [
        (Kind.LOGIN, "librarian"),
        (Kind.LOCKED_OUT, "Librarian@Example.org"),
        (Kind.LOGIN_FAILED, "Librarian@Example.org"),
        (Kind.LOGIN_FAILED, "LIBRARIAN"),
    ]
    assert [row.entry.operator for row in rows[1:]] == [None, None, None]
    assert {row.entry.patron for row in rows} == {None, librarian}
    # The JES administrator's attempts belong to JES: out of this reader's scope.
    assert client.get(LOG + "?operator=jesadmin").context["rows"] == []

    signed_in(client, district_admin)
    jes_rows = client.get(LOG + "?operator=jesadmin").context["rows"]
    assert [(row.entry.action, row.entry.patron) for row in jes_rows] == [
        (Kind.LOGIN_FAILED, jes_admin)
    ]
    unknown = client.get(LOG + "?operator=nobody-here").context["rows"]
    assert [(row.entry.operator_name, row.entry.patron) for row in unknown] == [
        ("nobody-here", None)
    ]


def test_a_deleted_patron_is_found_by_their_barcode(client, district_admin, librarian, ams):
    patron = PatronFactory(home_site=ams, barcode="GONE1", username="gone")
    services.patron_delete(actor=librarian, patron=patron)
    signed_in(client, district_admin)

    for term in ("GONE1", "gone"):
        rows = client.get(f"{LOG}?patron={term}").context["rows"]
        assert [(row.entry.action, row.patron_deleted) for row in rows] == [
            (Kind.PATRON_DELETED, True)
        ]


def test_a_reversed_end_date_is_explained_and_left_out(client, district_admin, varied):
    signed_in(client, district_admin)
    response = client.get(LOG + "?date_from=2025-03-03&date_to=2025-03-01")
    assert response.status_code == 200
    assert DATES_REVERSED in response.content.decode()
    assert [row.entry.pk for row in response.context["rows"]] == [varied[3].pk, varied[2].pk]

    # The export refuses rather than export a wider range than asked.
    refused = client.get(EXPORT + "?date_from=2025-03-03&date_to=2025-03-01")
    assert refused.status_code == 422
    assert DATES_REVERSED in refused.content.decode()


def test_htmx_requests_get_the_results_only(client, district_admin, varied):
    signed_in(client, district_admin)
    response = client.get(LOG, headers={"HX-Request": "true"})
    assert b"<table" in response.content
    assert b"<h1>" not in response.content


def test_pages_are_keyset_pages_newest_first_even_at_the_same_time(client, district_admin, ams):
    signed_in(client, district_admin)
    for number in range(120):
        log.record(Kind.LOGIN_FAILED, operator_name=f"n{number}", site=ams)
    OperatorAction.objects.update(at=timezone.now())  # ties: the id decides
    newest_first = list(OperatorAction.objects.order_by("-id").values_list("pk", flat=True))

    seen, pages, query = [], [], ""
    while True:
        page = client.get(LOG + query).context["page"]
        pages.append(page)
        seen += [entry.pk for entry in page.rows]
        if page.next_cursor is None:
            break
        query = f"?after={page.next_cursor}"
    assert [len(page.rows) for page in pages] == [50, 50, 20]
    assert seen == newest_first
    assert pages[0].previous_cursor is None

    back = client.get(f"{LOG}?before={pages[2].previous_cursor}").context["page"]
    assert [entry.pk for entry in back.rows] == newest_first[50:100]
    assert back.previous_cursor and back.next_cursor


@pytest.mark.parametrize("cursor", ["junk", "1.2.3", "-5.x", "99999999999999999999999.1", "1.0"])
def test_a_damaged_cursor_shows_the_first_page(client, district_admin, varied, cursor):
    signed_in(client, district_admin)
    response = client.get(f"{LOG}?after={cursor}")
    assert response.status_code == 200
    assert [row.entry.pk for row in response.context["rows"]][0] == varied[3].pk


def test_reading_a_page_starts_at_the_cursor_in_the_time_index(district_admin):
    """A page reads the index on `at` from the cursor on: cheap at any depth of millions of
    entries (sequential scans and sorts are priced out: a test table is too small to prefer
    an index, and its statistics, which other tests change, decide between a sort and the
    index). On a million entries, pages, filters and scopes each take milliseconds."""
    first = log.record(Kind.LOGIN, operator=district_admin)
    cursor = selectors.encode_cursor(first)
    page = selectors.operator_action_list(operator=district_admin).filter(
        selectors._beyond(first.at, first.pk, newer=False)
    )[: selectors.PAGE_SIZE + 1]
    sql, params = page.query.sql_with_params()
    with connection.cursor() as db:
        db.execute("SET LOCAL enable_seqscan = off")
        db.execute("SET LOCAL enable_sort = off")
        db.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in db.fetchall())
    assert "security_operatoraction_at_" in plan  # the index on `at` (Django names it)
    assert selectors.decode_cursor(cursor) == (first.at, first.pk)


def test_page_queries_are_bounded_whatever_the_number_of_rows(
    client, library_admin, ams, django_assert_max_num_queries
):
    signed_in(client, library_admin)
    client.get(LOG)  # the session's first read is not the page's
    counts = []
    for size in (5, 50):
        for patron in PatronFactory.create_batch(size - len(counts and entries()), home_site=ams):
            log.record(Kind.PATRON_CHANGED, operator=library_admin, patron=patron)
        with django_assert_max_num_queries(12), CaptureQueriesContext(connection) as queries:
            response = client.get(f"{LOG}?operator=libadmin&action={Kind.PATRON_CHANGED}")
        rows = response.context["rows"]
        assert len(rows) == size
        assert all(row.patron_url for row in rows)  # each linked, without a query each
        counts.append(len(queries))
    assert counts[0] == counts[1]


# --- CSV ------------------------------------------------------------------------------------


def read_csv(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-1+2", "'-1+2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Ada", "Ada"),
        ("", ""),
    ],
)
def test_cells_that_a_spreadsheet_would_run_are_quoted(cell, safe):
    assert safe_cell(cell) == safe


def test_the_export_streams_the_filtered_range_in_scope(client, library_admin, ams, jes):
    many = selectors.EXPORT_CHUNK + 5  # more than one chunk of the server-side cursor
    OperatorAction.objects.bulk_create(
        [
            OperatorAction(action=Kind.LOGIN_FAILED, operator_name=f"n{i}", site=ams)
            for i in range(many)
        ]
    )
    log.record(Kind.LOGIN, operator_name="other-action", site=ams)
    log.record(Kind.LOGIN_FAILED, operator_name="at-jes", site=jes)
    log.record(Kind.LOGIN_FAILED, operator_name="=cmd|' /C calc'!A0", site=ams)
    signed_in(client, library_admin)

    response = client.get(f"{EXPORT}?action={Kind.LOGIN_FAILED}")

    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="operator-log-')
    chunks = list(response.streaming_content)
    assert len(chunks) == 1 + many + 1  # the header, then one chunk a row
    rows = list(csv.reader(io.StringIO(b"".join(chunks).decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert header == [
        "When",
        "Operator",
        "Action",
        "Patron",
        "Object",
        "Site",
        "IP address",
        "Details",
    ]
    names = [row[1] for row in body]
    assert names[0] == "'=cmd|' /C calc'!A0"  # newest first, and defused
    assert set(names[1:]) == {f"n{i}" for i in range(many)}
    assert {row[2] for row in body} == {"Sign-in failed"}
    assert {row[5] for row in body} == {"AMS"}


def test_the_export_has_the_pages_columns(client, district_admin, librarian, ams):
    patron = PatronFactory(home_site=ams, first_name="Ada", last_name="Lovelace", barcode="P7")
    token = log.current_ip.set(IP)
    services.patron_set_status(actor=librarian, patron=patron, status=Patron.Status.SUSPENDED)
    log.current_ip.reset(token)
    signed_in(client, district_admin)

    header, row = read_csv(client.get(f"{EXPORT}?patron=P7"))
    assert dict(zip(header, row, strict=True)) | {"When": ""} == {
        "When": "",
        "Operator": "librarian",
        "Action": "Patron changed",
        "Patron": "Ada Lovelace (P7)",
        "Object": "",
        "Site": "AMS",
        "IP address": IP,
        "Details": "Status: Active → Suspended",
    }


def test_outside_a_request_no_address_is_logged(librarian):
    log.record(Kind.LOGIN, operator=librarian)
    assert only_entry().ip_address is None


def test_a_live_filter_of_the_log_pushes_only_the_parameters_that_are_set(client, library_admin):
    """As the patron list does: the form sends every field, the address names those set."""
    from urllib.parse import parse_qsl, urlsplit

    client.force_login(library_admin)
    unset = {"operator": "", "action": "", "patron": "", "date_from": "", "date_to": ""}
    response = client.get(LOG, unset | {"action": "refused"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    url = urlsplit(response["HX-Push-Url"])
    assert (url.path, dict(parse_qsl(url.query))) == (LOG, {"action": "refused"})
    response = client.get(LOG, unset, headers={"HX-Request": "true"})
    assert response["HX-Push-Url"] == LOG
