"""The History tab: field-by-field changes from the audit trail (pghistory), who and when;
secrets only ever "changed"; staff names and other sites' notes kept from readers who may
not see them; keyset pages with a constant number of queries; damaged cursors; the tab
filter."""

import re

import pghistory
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from libstaff.paging import CURSOR_DAMAGED
from patrons import history_selectors, services
from patrons.models import Note, NoteType, Patron
from security.models import Level
from tests.factories import OperatorFactory, PatronFactory
from tests.tab_posts import personal_data

pytestmark = pytest.mark.django_db


def url(patron, **query):
    base = reverse("patrons:tab", kwargs={"pk": patron.pk, "tab": "history"})
    if not query:
        return base
    return base + "?" + "&".join(f"{key}={value}" for key, value in query.items())


def history(client, patron, **query) -> str:
    response = client.get(url(patron, **query))
    assert response.status_code == 200
    return response.content.decode()


def rows(client, patron, **query):
    return client.get(url(patron, **query)).context["page"].rows


def note_type():
    return NoteType.objects.get_or_create(code="general", defaults={"name": "General"})[0]


def test_a_personal_save_shows_old_and_new_values_and_who(client, librarian, patron):
    old_name = patron.first_name
    client.force_login(librarian)
    tab = reverse("patrons:tab", kwargs={"pk": patron.pk, "tab": "personal"})
    saved = client.post(tab, personal_data(patron, first_name="Philippa", cohort="2029"))
    assert saved.status_code == 200

    newest = rows(client, patron)[0]
    assert newest.actor == librarian.display_name
    assert newest.tab == "Personal"
    assert ("First name", old_name, "Philippa") in [(c.label, c.old, c.new) for c in newest.changes]
    assert ("Cohort", "—", "2029") in [(c.label, c.old, c.new) for c in newest.changes]
    page = history(client, patron)
    assert f"First name: {old_name} → Philippa" in page
    assert librarian.display_name in page
    # Bookkeeping that every save carries is not a change anyone made.
    assert "Version" not in page


def test_the_tab_is_last_and_read_only(client, librarian, patron):
    client.force_login(librarian)
    response = client.get(url(patron))
    assert [tab.slug for tab in response.context["tabs"]][-1] == "history"
    assert client.post(url(patron), {"first_name": "X"}).status_code == 403


def test_a_password_or_pin_change_shows_changed_and_never_a_hash(
    client, library_admin, librarian, ams
):
    target = OperatorFactory(level=Level.LIBRARY_STAFF, home_site=ams)
    services.patron_update_access(
        actor=library_admin,
        patron=target,
        version=target.version,
        security_group=target.security_group,
        username=target.username,
        sites=[ams],
        must_change_password=False,
        password="new-secret-42",
        pin="4321",
    )
    target.refresh_from_db()
    client.force_login(librarian)
    page = history(client, target)
    assert "Password changed" in page
    assert "Self-check PIN changed" in page
    for secret in (target.password, target.pin, "new-secret-42", "4321"):
        assert secret not in page
    assert not re.search(r"(argon2|pbkdf2|bcrypt|md5)\$", page)
    assert library_admin.display_name in page


def test_a_staff_name_is_shown_only_to_who_may_view_that_staff_member(
    client, district_admin, librarian, patron
):
    """The District Administrator's home site (the district) is outside an AMS Librarian's
    scope: the Librarian sees the change, not who made it."""
    services.patron_update(
        actor=district_admin,
        patron=patron,
        action="patrons.edit_personal",
        version=patron.version,
        gender="unstated",
    )
    client.force_login(librarian)
    newest = rows(client, patron)[0]
    assert newest.actor == history_selectors.HIDDEN_ACTOR
    assert district_admin.display_name not in history(client, patron)

    client.force_login(district_admin)
    assert rows(client, patron)[0].actor == district_admin.display_name


def test_a_note_of_another_site_does_not_leak_through_the_history(
    client, district_admin, librarian, patron, jes, ams
):
    with pghistory.context(user=district_admin.pk):
        hidden = Note.objects.create(
            patron=patron, note_type=note_type(), owner_site=jes, text="Jefferson-only remark"
        )
        hidden.text = "Jefferson-only remark, edited"
        hidden.save()
        Note.objects.create(patron=patron, note_type=note_type(), owner_site=ams, text="Ours")

    client.force_login(librarian)
    page = history(client, patron)
    assert "Jefferson-only" not in page
    assert "Ours" in page
    assert "Jefferson-only" not in history(client, patron, tab="notes")

    client.force_login(district_admin)
    page = history(client, patron, tab="notes")
    assert "Text: Jefferson-only remark → Jefferson-only remark, edited" in page


def _make_history(patron, actor, count):
    with pghistory.context(user=actor.pk):
        for number in range(count):
            Patron.objects.filter(pk=patron.pk).update(cohort=f"C{number:03d}")


def _page_queries(client, address) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(address)
    assert response.status_code == 200
    return len(queries), response.context["page"]


def test_paging_through_500_changes_costs_the_same_on_every_page(client, librarian, patron, ams):
    _make_history(patron, librarian, 500)
    client.force_login(librarian)
    client.get(url(patron))  # the session and the policy's facts, once

    counts, seen, address = [], [], url(patron)
    while address:
        count, page = _page_queries(client, address)
        counts.append(count)
        seen += [row.cursor for row in page.rows]
        address = url(patron, after=page.next_cursor) if page.next_cursor else None
    assert len(seen) == len(set(seen)) == 501  # 500 updates and the registration
    assert len(counts) == 11
    assert counts[0] == counts[4]  # page 1 and page 5

    small = PatronFactory(home_site=ams)
    _make_history(small, librarian, 1)
    small_count, small_page = _page_queries(client, url(small))
    assert len(small_page.rows) == 2
    assert small_count == counts[0]  # 1 change or 500: the same queries

    # Back from page 2 to page 1 through the "newer" link.
    _, second = _page_queries(client, url(patron, after=rows(client, patron)[-1].cursor))
    _, first = _page_queries(client, url(patron, before=second.previous_cursor))
    assert [row.cursor for row in first.rows] == seen[:50]
    assert first.previous_cursor is None


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "1.2",
        "1.2.3.4",
        "99999999999999999999999.0.1",
        "1.99.1",
        "1.0.-5",
        "1.0.0",
        "1.0.99999999999999999999",
        "%00",
        "x" * 5000,
    ],
)
def test_a_damaged_cursor_gives_the_first_page_and_says_so(client, librarian, patron, cursor):
    _make_history(patron, librarian, 3)
    client.force_login(librarian)
    for direction in ("after", "before"):
        response = client.get(url(patron), {direction: cursor})
        assert response.status_code == 200
        page = response.context["page"]
        assert page.notice == CURSOR_DAMAGED
        assert len(page.rows) == 4
        assert CURSOR_DAMAGED in response.content.decode()


def test_a_cursor_far_in_the_past_or_future_is_not_an_error(client, librarian, patron):
    client.force_login(librarian)
    assert rows(client, patron, after="-62135596800000000.0.1") == []
    assert len(rows(client, patron, after="253402300799000000.8.1")) == 1


def test_the_tab_filter(client, librarian, patron, ams):
    services.patron_update(
        actor=librarian,
        patron=patron,
        action="patrons.edit_personal",
        version=patron.version,
        form_class="6B",
    )
    patron.refresh_from_db()
    services.patron_update(
        actor=librarian,
        patron=patron,
        action="patrons.edit_contact",
        version=patron.version,
        language="fr",
    )
    with pghistory.context(user=librarian.pk):
        Note.objects.create(patron=patron, note_type=note_type(), owner_site=ams, text="Hello")
    client.force_login(librarian)

    contact = history(client, patron, tab="contact")
    assert "Language: en → fr" in contact
    assert "Form class" not in contact
    assert "Hello" not in contact

    personal = history(client, patron, tab="personal")
    assert "Form class: — → 6B" in personal
    assert "Language" not in personal

    notes = rows(client, patron, tab="notes")
    assert [(row.what, row.action) for row in notes] == [("Note", "added")]
    assert rows(client, patron, tab="blocks") == []
    assert "No changes recorded on this tab." in history(client, patron, tab="blocks")

    everything = history(client, patron)
    assert "Language: en → fr" in everything and "Hello" in everything
    bogus = history(client, patron, tab="bogus")  # an unknown tab means every tab
    assert "Language: en → fr" in bogus and "Hello" in bogus


def test_an_operator_out_of_scope_gets_404(client, operator_at_other_site, patron):
    client.force_login(operator_at_other_site)
    assert client.get(url(patron)).status_code == 404
