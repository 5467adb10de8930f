"""The Identifiers tab as a user meets it: identifiers added, changed and removed, a value
taken by another patron named only when the operator may see that patron, the unique
constraint deciding races without an error page, crafted ids of other patrons' identifiers
refused (404), read-only without edit_personal (403 on a crafted post), every change in the
operator log, and a number of queries that does not grow with the identifiers."""

import threading
import time

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from patrons import services
from patrons.forms.identifiers import TYPE_REQUIRED, VALUE_REQUIRED
from patrons.models import Identifier, IdentifierType, Patron
from patrons.views.identifiers import ADDED, CHANGED, REMOVED
from security.models import Level, OperatorAction
from tests.conftest import SignedInClient
from tests.factories import OperatorFactory, PatronFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def tab_url(patron):
    return reverse("patrons:tab", kwargs={"pk": patron.pk, "tab": "identifiers"})


def record_url(patron):
    return reverse("patrons:record", kwargs={"pk": patron.pk})


def field_error(message, field="value", prefix="new"):
    """The error list Django renders next to a field of the add (or edit) form."""
    return f'id="id_{prefix}-{field}_error"><li>{escape(message)}</li>'


@pytest.fixture
def student_id():
    """The default list's (a data migration); transactional tests flush it, so get or make it."""
    kind, _ = IdentifierType.objects.get_or_create(
        code="student_id", defaults={"name": "Student ID"}
    )
    return kind


@pytest.fixture
def ada(ams):
    return PatronFactory(first_name="Ada", last_name="Lovelace", home_site=ams)


def add(client, patron, kind, value, note="", **extra):
    data = {"action": "add", "new-identifier_type": kind.pk, "new-value": value, "new-note": note}
    return client.post(tab_url(patron), data, **extra)


def make(patron, kind, value, note=""):
    return Identifier.objects.create(patron=patron, identifier_type=kind, value=value, note=note)


def change(client, patron, row, kind, value, note="", seen=None, **extra):
    data = {
        "action": "change",
        "identifier": row.pk,
        "seen": seen or row.updated_at.isoformat(),
        "edit-identifier_type": kind.pk,
        "edit-value": value,
        "edit-note": note,
    }
    return client.post(tab_url(patron), data, **extra)


def remove(client, patron, row, seen=None, **extra):
    data = {"action": "remove", "identifier": row.pk, "seen": seen or row.updated_at.isoformat()}
    return client.post(tab_url(patron), data, **extra)


def identifier_log(patron):
    entries = OperatorAction.objects.filter(
        action=OperatorAction.Kind.PATRON_CHANGED, patron=patron
    ).order_by("pk")
    return [entry.details["identifier"] for entry in entries]


# --- add, change, remove, logged -------------------------------------------------------------


def test_an_added_identifier_is_trimmed_listed_logged_and_found_by_the_list_search(
    client, librarian, ada, student_id
):
    client.force_login(librarian)
    response = add(client, ada, student_id, "  STU\t 4471 ", note=" from the school ")
    assert response.status_code == 200
    assert ADDED.format(value="STU 4471") in response.content.decode()
    row = Identifier.objects.get(patron=ada)
    assert (row.value, row.note, row.created_by, row.updated_by) == (
        "STU 4471",
        "from the school",
        librarian,
        librarian,
    )
    page = client.get(tab_url(ada)).content.decode()
    assert "STU 4471" in page and "Student ID" in page and librarian.display_name in page
    assert identifier_log(ada) == [
        {"action": "added", "type": "Student ID", "value": "STU 4471", "note": "from the school"}
    ]
    found = client.get(reverse("patrons:list"), {"q": "STU 4471"})
    assert (found.status_code, found.url) == (302, record_url(ada))


def test_an_identifier_is_changed_and_removed_with_htmx_and_logged(
    client, librarian, ada, student_id
):
    national, _ = IdentifierType.objects.get_or_create(
        code="NATIONAL", defaults={"name": "National card"}
    )
    row = make(ada, student_id, "STU-1")
    client.force_login(librarian)
    opened = client.get(tab_url(ada), {"edit": row.pk}, **HTMX)
    assert opened.status_code == 200 and 'id="edit-identifier"' in opened.content.decode()

    response = change(client, ada, row, national, "NAT-1", note="card", **HTMX)
    assert response.status_code == 200
    assert CHANGED.format(value="NAT-1") in response.content.decode()
    row.refresh_from_db()
    assert (row.identifier_type, row.value, row.note, row.updated_by) == (
        national,
        "NAT-1",
        "card",
        librarian,
    )

    response = remove(client, ada, row, **HTMX)
    assert response.status_code == 200
    assert REMOVED.format(value="NAT-1") in response.content.decode()
    assert not Identifier.objects.filter(patron=ada).exists()
    assert identifier_log(ada) == [
        {
            "action": "changed",
            "value": "NAT-1",
            "changes": {
                "type": ["Student ID", "National card"],
                "value": ["STU-1", "NAT-1"],
                "note": ["", "card"],
            },
        },
        {"action": "removed", "type": "National card", "value": "NAT-1", "note": "card"},
    ]


def test_a_change_of_a_row_saved_since_it_was_opened_is_refused(
    client, librarian, library_admin, ada, student_id
):
    row = make(ada, student_id, "STU-1")
    seen = row.updated_at.isoformat()
    services.identifier_change(
        actor=library_admin,
        patron=ada,
        identifier=row,
        seen_updated_at=row.updated_at,
        identifier_type=student_id,
        value="STU-2",
    )
    client.force_login(librarian)
    response = change(client, ada, row, student_id, "STU-3", seen=seen)
    assert response.status_code == 422
    assert escape(services.IDENTIFIER_CHANGED) in response.content.decode()
    response = remove(client, ada, row, seen=seen)
    assert response.status_code == 422
    assert escape(services.IDENTIFIER_CHANGED) in response.content.decode()
    assert Identifier.objects.get(pk=row.pk).value == "STU-2"


# --- uniqueness --------------------------------------------------------------------------------


def test_a_value_held_by_a_patron_the_operator_sees_names_them_with_a_link(
    client, librarian, ada, ams, student_id
):
    grace = PatronFactory(first_name="Grace", last_name="Hopper", home_site=ams)
    make(grace, student_id, "STU-7")
    client.force_login(librarian)
    response = add(client, ada, student_id, " STU-7 ")
    assert response.status_code == 422
    page = response.content.decode()
    assert field_error(services.VALUE_TAKEN_BY.format(name="Grace Hopper")) in page
    assert f'href="{record_url(grace)}"' in page
    assert not Identifier.objects.filter(patron=ada).exists()


def test_a_value_held_by_a_patron_out_of_scope_does_not_reveal_them(
    client, librarian, ada, jes, student_id
):
    hidden = PatronFactory(first_name="Hedy", last_name="Lamarr", home_site=jes)
    make(hidden, student_id, "STU-8")
    client.force_login(librarian)
    for extra in ({}, HTMX):
        response = add(client, ada, student_id, "STU-8", **extra)
        assert response.status_code == 422
        page = response.content.decode()
        assert field_error(services.VALUE_TAKEN) in page
        assert "Hedy" not in page and "Lamarr" not in page
        assert record_url(hidden) not in page and f"/{hidden.pk}/" not in page
    assert not Identifier.objects.filter(patron=ada).exists()


def test_a_value_already_on_the_record_and_a_change_onto_a_taken_value(
    client, librarian, ada, student_id
):
    first = make(ada, student_id, "STU-1")
    make(ada, student_id, "STU-2")
    client.force_login(librarian)
    response = add(client, ada, student_id, "STU-1")
    assert response.status_code == 422
    assert field_error(services.VALUE_ON_RECORD) in response.content.decode()
    response = change(client, ada, first, student_id, "STU-2")
    assert response.status_code == 422
    assert field_error(services.VALUE_ON_RECORD, prefix="edit") in response.content.decode()
    assert sorted(ada.identifiers.values_list("value", flat=True)) == ["STU-1", "STU-2"]
    assert identifier_log(ada) == []


def test_values_are_compared_as_the_database_constraint_compares_them(
    client, librarian, ada, ams, student_id
):
    """A plain UNIQUE: case matters (see the service's docstring and the note)."""
    make(PatronFactory(home_site=ams), student_id, "stu-9")
    client.force_login(librarian)
    assert add(client, ada, student_id, "STU-9").status_code == 200


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "field", "message"),
    [
        ("   ", "ok", "value", VALUE_REQUIRED),
        ("X" * 101, "ok", "value", "Ensure this value has at most 100 characters (it has 101)."),
        ("STU-1", "", "identifier_type", TYPE_REQUIRED),
        ("STU-1", "999999", "identifier_type", None),
    ],
    ids=["blank", "too-long", "no-type", "unknown-type"],
)
def test_bad_input_is_refused_next_to_the_field_and_nothing_is_saved(
    client, librarian, ada, student_id, value, kind, field, message
):
    client.force_login(librarian)
    data = {
        "action": "add",
        "new-identifier_type": student_id.pk if kind == "ok" else kind,
        "new-value": value,
    }
    response = client.post(tab_url(ada), data)
    assert response.status_code == 422
    page = response.content.decode()
    assert f'id="id_new-{field}_error"' in page
    if message:
        assert field_error(message, field=field) in page
    assert not Identifier.objects.exists()
    assert identifier_log(ada) == []


def test_an_unknown_action_is_a_bad_request(client, librarian, ada):
    client.force_login(librarian)
    assert client.post(tab_url(ada), {"action": "merge"}).status_code == 400


# --- crafted ids, read-only, level boundary ----------------------------------------------------


def test_another_patrons_identifier_id_is_not_found_and_unchanged(
    client, librarian, ada, ams, student_id
):
    other = make(PatronFactory(home_site=ams), student_id, "STU-OTHER")
    client.force_login(librarian)
    for extra in ({}, HTMX):
        assert client.get(tab_url(ada), {"edit": other.pk}, **extra).status_code == 404
        assert change(client, ada, other, student_id, "STOLEN", **extra).status_code == 404
        assert remove(client, ada, other, **extra).status_code == 404
    for crafted in ("", "abc", "0"):
        data = {"action": "remove", "identifier": crafted, "seen": "x"}
        assert client.post(tab_url(ada), data).status_code == 404
    other.refresh_from_db()
    assert other.value == "STU-OTHER"
    assert OperatorAction.objects.filter(action=OperatorAction.Kind.PATRON_CHANGED).count() == 0


def test_without_edit_personal_the_tab_is_read_only_and_posts_are_forbidden(
    client, aide, ada, student_id
):
    row = make(ada, student_id, "STU-1")
    client.force_login(aide)
    page = client.get(tab_url(ada)).content.decode()
    assert "STU-1" in page
    assert 'name="action"' not in page and "?edit=" not in page
    assert add(client, ada, student_id, "STU-2").status_code == 403
    assert change(client, ada, row, student_id, "STU-3").status_code == 403
    assert remove(client, ada, row).status_code == 403
    assert list(ada.identifiers.values_list("value", flat=True)) == ["STU-1"]


def test_a_librarian_cannot_change_a_librarians_identifiers(
    client, librarian, library_admin, ams, student_id
):
    colleague = OperatorFactory(level=Level.LIBRARIAN, home_site=ams)
    row = make(colleague, student_id, "STU-1")
    client.force_login(librarian)
    assert 'name="action"' not in client.get(tab_url(colleague)).content.decode()
    assert add(client, colleague, student_id, "STU-2").status_code == 403
    assert change(client, colleague, row, student_id, "STU-3").status_code == 403
    assert remove(client, colleague, row).status_code == 403
    assert list(colleague.identifiers.values_list("value", flat=True)) == ["STU-1"]

    client.force_login(library_admin)
    assert add(client, colleague, student_id, "STU-2").status_code == 200


def test_an_operator_out_of_scope_does_not_find_the_tab(
    client, operator_at_other_site, ada, student_id
):
    client.force_login(operator_at_other_site)
    assert client.get(tab_url(ada)).status_code == 404
    assert add(client, ada, student_id, "STU-1").status_code == 404
    assert not Identifier.objects.exists()


# --- bounded queries -----------------------------------------------------------------------


def test_the_tab_costs_the_same_queries_with_1_and_20_identifiers(
    client, librarian, library_admin, ada, student_id
):
    client.force_login(librarian)

    def queries():
        client.get(tab_url(ada))  # sessions and caches warmed alike
        with CaptureQueriesContext(connection) as captured:
            assert client.get(tab_url(ada)).status_code == 200
        return len(captured)

    services.identifier_add(actor=library_admin, patron=ada, identifier_type=student_id, value="0")
    one = queries()
    for number in range(1, 20):
        services.identifier_add(
            actor=library_admin if number % 2 else librarian,
            patron=ada,
            identifier_type=student_id,
            value=str(number),
        )
    assert ada.identifiers.count() == 20
    assert queries() == one


# --- races -----------------------------------------------------------------------------------


def test_the_constraint_is_the_one_the_service_names(db):
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Identifier._meta.db_table)
    assert constraints[services.IDENTIFIER_VALUE_UNIQUE]["columns"] == ["value"]
    assert constraints[services.IDENTIFIER_VALUE_UNIQUE]["unique"]


def _wait_for_a_blocked_backend(timeout=10.0) -> bool:
    """True once another connection waits for a lock (the second insert, on the index)."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.02)
    return False


@pytest.mark.django_db(transaction=True)
def test_two_adds_of_one_value_at_the_same_moment_one_wins_the_other_gets_the_field_error(
    default_groups, ams
):
    """The second add passes the service's check while the first is not committed, then
    waits on the unique index; when the first commits, it gets the field error (422)."""
    kind = IdentifierType.objects.create(code="RACE", name="Race card")
    librarian = OperatorFactory(level=Level.LIBRARIAN, home_site=ams)
    first = PatronFactory(first_name="Ada", last_name="First", home_site=ams)
    second = PatronFactory(home_site=ams)
    client = SignedInClient(raise_request_exception=False)  # a 500 is an outcome here
    client.force_login(librarian)
    inserted, blocked = threading.Event(), threading.Event()
    outcomes = {}

    def hold_the_first():
        try:
            with transaction.atomic():
                services.identifier_add(
                    actor=Patron.objects.get(pk=librarian.pk),
                    patron=first,
                    identifier_type=kind,
                    value="RACE-1",
                )
                inserted.set()
                blocked.wait(timeout=10)
        finally:
            connection.close()

    def add_the_second():
        try:
            inserted.wait(timeout=10)
            outcomes["second"] = add(client, second, kind, "RACE-1")
        finally:
            connection.close()

    threads = [threading.Thread(target=hold_the_first), threading.Thread(target=add_the_second)]
    for thread in threads:
        thread.start()
    assert inserted.wait(timeout=10)
    was_blocked = _wait_for_a_blocked_backend()
    blocked.set()
    for thread in threads:
        thread.join(timeout=30)

    assert was_blocked, "the second add never reached the unique index"
    response = outcomes["second"]
    assert response.status_code == 422
    message = services.VALUE_TAKEN_BY.format(name="Ada First")
    assert field_error(message) in response.content.decode()
    assert list(Identifier.objects.values_list("patron_id", flat=True)) == [first.pk]
    assert OperatorAction.objects.filter(action=OperatorAction.Kind.PATRON_CHANGED).count() == 1


ADDERS = 6


@pytest.mark.django_db(transaction=True)
def test_many_adds_of_one_value_at_once_save_one_and_never_fail(default_groups, ams):
    kind = IdentifierType.objects.create(code="RACE", name="Race card")
    librarian = OperatorFactory(level=Level.LIBRARIAN, home_site=ams)
    targets = [PatronFactory(home_site=ams) for _ in range(ADDERS)]
    clients = []
    for _ in range(ADDERS):
        client = SignedInClient(raise_request_exception=False)
        client.force_login(librarian)
        clients.append(client)
    barrier = threading.Barrier(ADDERS)
    statuses = []

    def add_one(client, target):
        try:
            barrier.wait(timeout=10)
            statuses.append(add(client, target, kind, "RACE-2").status_code)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=add_one, args=pair) for pair in zip(clients, targets, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(statuses) == [200] + [422] * (ADDERS - 1)
    assert Identifier.objects.filter(value="RACE-2").count() == 1
