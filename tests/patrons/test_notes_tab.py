"""The Notes tab: what an operator sees (owner-site scope, in the tab, the list's count and
its filter), adding, changing and deleting (by id: crafted ids are "not found"), the level
boundary, read-only operators, errors next to the field, stale edits, the operator log,
bounded queries, the pop-up notes once per record visit, and /me/."""

import html

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from patrons import selectors, services
from patrons.forms.notes import EDIT_PREFIX, OWNER_SITE_CHOICE, TEXT_REQUIRED
from patrons.models import Note, NoteType
from patrons.services.notes import STALE_NOTE, note_version
from patrons.views.note_popup import SHOWN
from patrons.views.notes import NOTE_ADDED, NOTE_DELETED, NOTE_SAVED
from security import working_site
from security.models import Level, OperatorAction
from tests.factories import OperatorFactory, PatronFactory
from tests.tab_posts import tab_url

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def url(patron):
    return tab_url(patron, "notes")


def text_of(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def general():
    return NoteType.objects.get_or_create(code="general", defaults={"name": "General"})[0]


@pytest.fixture
def alert():
    return NoteType.objects.get_or_create(code="alert", defaults={"name": "Alert"})[0]


@pytest.fixture
def member(ams):
    return PatronFactory(home_site=ams, first_name="Ada", last_name="Byron")


@pytest.fixture
def two_sites_librarian(ams, jes):
    """A Librarian of AMS whose site access covers JES too."""
    return OperatorFactory(
        username="twosites", level=Level.LIBRARIAN, home_site=ams, site_access=[ams, jes]
    )


def note(patron, site, note_type, text="Bring the signed form.", **fields) -> Note:
    return Note.objects.create(
        patron=patron, note_type=note_type, text=text, owner_site=site, **fields
    )


def add_data(note_type, site, **changes) -> dict:
    data = {"note_type": note_type.pk, "text": "Prefers large print.", "owner_site": site.pk}
    return data | changes


def edit_data(existing: Note, **changes) -> dict:
    data = {
        "note": existing.pk,
        "version": note_version(existing),
        "note_type": existing.note_type_id,
        "text": existing.text,
        "owner_site": existing.owner_site_id,
    }
    if existing.is_popup:
        data["is_popup"] = "on"
    data |= changes
    return {
        (key if key == "note" else f"{EDIT_PREFIX}-{key}"): value for key, value in data.items()
    }


def delete_data(existing: Note) -> dict:
    return {"note": existing.pk, "version": note_version(existing), "delete": "1"}


# --- what an operator sees ------------------------------------------------------------------


def test_the_tab_lists_notes_with_their_marks_and_stamps(client, librarian, member, ams, general):
    author = OperatorFactory(level=Level.LIBRARIAN, home_site=ams, first_name="Grace")
    shown = note(member, ams, general, "Reads to her brother.", is_popup=True)
    shown.created_by = shown.updated_by = author
    shown.save()
    note(member, ams, general, "Visible one.", is_visible_to_patron=True)
    client.force_login(librarian)
    response = client.get(url(member))
    assert response.status_code == 200
    page = text_of(response)
    assert "Reads to her brother." in page and "Visible one." in page
    assert "Pop-up" in page and "Visible to the patron" in page
    assert f"by {author.display_name}" in page
    assert ">AMS</abbr>" in page
    assert "Add a note" in page


def test_a_note_owned_by_another_site_is_invisible_out_of_its_scope(
    client, librarian, two_sites_librarian, member, ams, jes, general
):
    """An AMS-only Librarian sees neither the JES note nor its count, nor does the has-notes
    filter find the patron by it; a Librarian whose access covers JES sees all three."""
    note(member, jes, general, "Owned by Jefferson.")
    for operator, sees in ((librarian, False), (two_sites_librarian, True)):
        client.force_login(operator)
        page = text_of(client.get(url(member)))
        assert ("Owned by Jefferson." in page) is sees
        rows = selectors.patron_search(operator=operator, query="Byron").rows
        assert [row.note_count for row in rows] == [1 if sees else 0]
        noted = selectors.patron_search(
            operator=operator, filters=selectors.PatronFilters(has_notes=True)
        ).rows
        assert (member in noted) is sees
        without = selectors.patron_search(
            operator=operator, filters=selectors.PatronFilters(has_notes=False)
        ).rows
        assert (member in without) is not sees
        listed = text_of(client.get(reverse("patrons:list"), {"notes": "yes"}))
        assert ("Byron, Ada" in listed) is sees


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["form", "htmx"])
def test_crafted_ids_are_not_found_and_change_nothing(
    client, librarian, member, ams, jes, general, headers
):
    out_of_scope = note(member, jes, general, "Owned by Jefferson.")
    other_patron = note(PatronFactory(home_site=ams), ams, general, "Someone else's.")
    client.force_login(librarian)
    for target in (out_of_scope, other_patron):
        edited = client.post(url(member), edit_data(target, text="Overwritten"), headers=headers)
        assert edited.status_code == 404
        deleted = client.post(url(member), delete_data(target), headers=headers)
        assert deleted.status_code == 404
        assert client.get(url(member), {"edit": target.pk}, headers=headers).status_code == 404
        target.refresh_from_db()
        assert target.text != "Overwritten"
    for junk in ("", "abc", "-1", "99999999999999999999"):
        assert client.post(url(member), {"note": junk, "delete": "1"}).status_code == 404
    assert Note.objects.count() == 2
    assert not OperatorAction.objects.filter(action=OperatorAction.Kind.PATRON_CHANGED).exists()


# --- who may change notes -------------------------------------------------------------------


def test_a_librarian_cannot_edit_notes_of_a_librarian(client, librarian, ams, general):
    colleague = OperatorFactory(level=Level.LIBRARIAN, home_site=ams)
    existing = note(colleague, ams, general, "Keep as is.")
    client.force_login(librarian)
    page = text_of(client.get(url(colleague)))
    assert "Keep as is." in page and "Add a note" not in page
    assert "You can view this tab but not change it." in page
    assert client.post(url(colleague), add_data(general, ams)).status_code == 403
    assert client.post(url(colleague), edit_data(existing, text="Changed")).status_code == 403
    assert client.post(url(colleague), delete_data(existing)).status_code == 403
    existing.refresh_from_db()
    assert existing.text == "Keep as is." and Note.objects.count() == 1


def test_a_librarian_edits_notes_of_library_staff(client, librarian, ams, general):
    """The other side of the level boundary."""
    staff_member = OperatorFactory(level=Level.LIBRARY_STAFF, home_site=ams)
    client.force_login(librarian)
    assert client.post(url(staff_member), add_data(general, ams)).status_code == 200
    assert staff_member.notes.count() == 1


def test_without_edit_notes_the_tab_is_read_only(client, aide, member, ams, general):
    existing = note(member, ams, general, "Seen by the aide.")
    client.force_login(aide)
    response = client.get(url(member))
    assert response.status_code == 200
    page = text_of(response)
    assert "Seen by the aide." in page
    assert "Add a note" not in page and 'name="delete"' not in page
    assert client.get(url(member), {"edit": existing.pk}).context["editing"] is None
    for data in (add_data(general, ams), edit_data(existing, text="x"), delete_data(existing)):
        assert client.post(url(member), data).status_code == 403
        assert client.post(url(member), data, headers=HTMX).status_code == 403
    existing.refresh_from_db()
    assert existing.text == "Seen by the aide." and Note.objects.count() == 1


# --- adding, changing, deleting -------------------------------------------------------------


def test_adding_a_note_saves_and_logs_it(client, librarian, member, ams, alert):
    client.force_login(librarian)
    data = add_data(alert, ams, text="Allergic to cats.", is_popup="on", is_visible_to_patron="on")
    response = client.post(url(member), data, headers=HTMX)
    assert response.status_code == 200
    assert NOTE_ADDED in text_of(response)
    added = member.notes.get()
    assert (added.text, added.note_type, added.owner_site) == ("Allergic to cats.", alert, ams)
    assert added.is_popup and added.is_visible_to_patron
    assert added.created_by == librarian and added.updated_by == librarian
    entry = OperatorAction.objects.get(action=OperatorAction.Kind.PATRON_CHANGED)
    assert (entry.operator, entry.patron) == (librarian, member)
    assert (entry.object_type, entry.object_id) == ("patrons.note", str(added.pk))
    assert entry.details["note"] == "added"
    assert entry.details["changes"]["text"] == [None, "Allergic to cats."]
    assert entry.details["changes"]["owner_site"] == [None, str(ams)]


def test_the_owner_site_offered_and_its_default(
    client, two_sites_librarian, librarian, member, ams, jes
):
    client.force_login(librarian)
    form = client.get(url(member)).context["add_form"]
    assert list(form.fields["owner_site"].queryset) == [ams]
    assert form["owner_site"].value() == ams.pk  # the home site
    client.force_login(two_sites_librarian)
    session = client.session
    session[working_site.SESSION_ID] = jes.pk
    session.save()
    form = client.get(url(member)).context["add_form"]
    assert set(form.fields["owner_site"].queryset) == {ams, jes}
    assert form["owner_site"].value() == jes.pk  # the working site


def test_an_owner_site_out_of_scope_is_refused_next_to_the_field(
    client, librarian, member, jes, general
):
    client.force_login(librarian)
    response = client.post(url(member), add_data(general, jes))
    assert response.status_code == 422
    assert response.context["add_form"].errors["owner_site"] == [OWNER_SITE_CHOICE]
    assert not Note.objects.exists()


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["form", "htmx"])
def test_an_empty_note_is_refused_next_to_the_field(
    client, librarian, member, ams, general, headers
):
    client.force_login(librarian)
    response = client.post(url(member), add_data(general, ams, text="  "), headers=headers)
    assert response.status_code == 422
    assert response.context["add_form"].errors["text"] == [TEXT_REQUIRED]
    assert TEXT_REQUIRED in text_of(response)
    assert not Note.objects.exists()
    existing = note(member, ams, general, "Kept.")
    response = client.post(url(member), edit_data(existing, text=""), headers=headers)
    assert response.status_code == 422
    assert response.context["editing"].errors["text"] == [TEXT_REQUIRED]
    existing.refresh_from_db()
    assert existing.text == "Kept."


def test_changing_a_note_saves_and_logs_what_changed(
    client, two_sites_librarian, member, ams, jes, general, alert
):
    existing = note(member, ams, general, "First wording.")
    client.force_login(two_sites_librarian)
    assert client.get(url(member), {"edit": existing.pk}).context["editing"].note == existing
    data = edit_data(existing, text="Second wording.", note_type=alert.pk, owner_site=jes.pk)
    response = client.post(url(member), data)
    assert response.status_code == 200
    assert NOTE_SAVED in text_of(response)
    existing.refresh_from_db()
    assert (existing.text, existing.note_type, existing.owner_site) == (
        "Second wording.",
        alert,
        jes,
    )
    assert existing.updated_by == two_sites_librarian
    entry = OperatorAction.objects.get(action=OperatorAction.Kind.PATRON_CHANGED)
    assert entry.details == {
        "note": "changed",
        "changes": {
            "text": ["First wording.", "Second wording."],
            "note_type": [str(general), str(alert)],
            "owner_site": [str(ams), str(jes)],
        },
    }


def test_moving_a_note_out_of_ones_scope_is_refused(client, librarian, member, ams, jes, general):
    existing = note(member, ams, general, "Stays at AMS.")
    client.force_login(librarian)
    response = client.post(url(member), edit_data(existing, owner_site=jes.pk))
    assert response.status_code == 422
    assert response.context["editing"].errors["owner_site"] == [OWNER_SITE_CHOICE]
    existing.refresh_from_db()
    assert existing.owner_site == ams


def test_the_services_ask_the_policy_themselves(librarian, member, ams, jes, general):
    """A command or an import that skips the form meets the same owner-site rule."""
    with pytest.raises(PermissionDenied):
        services.note_add(
            actor=librarian, patron=member, note_type=general, text="x", owner_site=jes
        )
    existing = note(member, ams, general, "Stays at AMS.")
    with pytest.raises(PermissionDenied):
        services.note_update(
            actor=librarian, note=existing, version=note_version(existing), owner_site=jes
        )
    out_of_scope = note(member, jes, general, "Owned by Jefferson.")
    with pytest.raises(PermissionDenied):
        services.note_delete(actor=librarian, note=out_of_scope, version=note_version(out_of_scope))
    assert Note.objects.filter(owner_site=jes).count() == 1
    assert Note.objects.get(pk=existing.pk).owner_site == ams
    assert not OperatorAction.objects.filter(action=OperatorAction.Kind.PATRON_CHANGED).exists()


def test_deleting_a_note_removes_and_logs_it(client, librarian, member, ams, general):
    existing = note(member, ams, general, "Going away.")
    client.force_login(librarian)
    response = client.post(url(member), delete_data(existing), headers=HTMX)
    assert response.status_code == 200
    assert NOTE_DELETED in text_of(response)
    assert not Note.objects.exists()
    entry = OperatorAction.objects.get(action=OperatorAction.Kind.PATRON_CHANGED)
    assert entry.details["note"] == "deleted"
    assert entry.details["changes"]["text"] == ["Going away.", None]
    assert entry.object_repr == "Going away."


# --- stale edits ----------------------------------------------------------------------------


def test_a_stale_edit_is_refused_and_overwrites_nothing(client, librarian, member, ams, general):
    existing = note(member, ams, general, "Original.")
    loaded = edit_data(existing, text="Mine.")
    other = OperatorFactory(
        level=Level.LIBRARIAN, home_site=ams, first_name="Other", last_name="One"
    )
    theirs = services.note_update(
        actor=other, note=existing, version=note_version(existing), text="Theirs."
    )
    client.force_login(librarian)
    response = client.post(url(member), loaded)
    assert response.status_code == 422
    when = timezone.localtime(theirs.updated_at).strftime("%H:%M")
    page = text_of(response)
    assert STALE_NOTE.format(who=other.display_name, when=when) in page
    assert "Theirs." in page  # shown, to review
    existing.refresh_from_db()
    assert existing.text == "Theirs."
    # The form now carries the current version: saving again applies the editor's text.
    form = response.context["editing"]
    assert form.data[f"{EDIT_PREFIX}-version"] == note_version(existing)
    assert client.post(url(member), form.data).status_code == 200
    existing.refresh_from_db()
    assert existing.text == "Mine."


def test_a_stale_delete_is_refused(client, librarian, member, ams, general):
    existing = note(member, ams, general, "Original.")
    loaded = delete_data(existing)
    services.note_update(
        actor=librarian, note=existing, version=note_version(existing), text="Changed since."
    )
    client.force_login(librarian)
    response = client.post(url(member), loaded, headers=HTMX)
    assert response.status_code == 422
    assert "changed this note at" in text_of(response)
    assert Note.objects.get().text == "Changed since."


# --- bounded queries --------------------------------------------------------------------------


def test_the_tab_queries_do_not_grow_with_the_notes(
    client, librarian, member, ams, general, django_assert_max_num_queries
):
    """As an htmx tab switch and as the full page of a new visit (the pop-up notes too)."""
    client.force_login(librarian)
    author = OperatorFactory(level=Level.LIBRARIAN, home_site=ams)
    visit = reverse("patrons:record", kwargs={"pk": member.pk})

    def queries(**get) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(**get)
        assert response.status_code == 200
        return len(captured)

    def measure() -> tuple[int, int]:
        switch = queries(path=url(member), headers=HTMX)
        full_page = queries(path=visit, follow=True)
        return switch, full_page

    def add(count):
        Note.objects.bulk_create(
            Note(patron=member, note_type=general, text=f"Note {n}", owner_site=ams,
                 created_by=author, updated_by=librarian, is_popup=n % 2 == 0)
            for n in range(count)
        )  # fmt: skip

    add(1)
    measure()  # warm the per-session caches
    with_one = measure()
    add(49)
    with django_assert_max_num_queries(with_one[0]):
        client.get(url(member), headers=HTMX)
    assert measure() == with_one
    page = client.get(url(member), headers=HTMX)
    assert len(page.context["notes"]) == 50


# --- pop-up notes -----------------------------------------------------------------------------


def test_pop_up_notes_show_once_per_record_visit(client, librarian, member, ams, jes, general):
    note(member, ams, general, "Call the parents first.", is_popup=True)
    note(member, ams, general, "Not a pop-up.")
    note(member, jes, general, "A Jefferson pop-up.", is_popup=True)
    client.force_login(librarian)
    record = reverse("patrons:record", kwargs={"pk": member.pk})
    first = client.get(record, follow=True)
    assert [n.text for n in first.context["popup_notes"]] == ["Call the parents first."]
    page = text_of(first)
    assert "<dialog" in page and 'aria-labelledby="popup-notes-title"' in page
    assert "A Jefferson pop-up." not in page  # out of the operator's owner-site scope
    # The same visit: a tab switch (htmx), a full page of another tab, a save.
    assert "<dialog" not in text_of(client.get(tab_url(member, "contact"), headers=HTMX))
    assert "<dialog" not in text_of(client.get(tab_url(member, "personal")))
    assert "<dialog" not in text_of(client.post(url(member), add_data(general, ams)))
    # A new visit (from the list, through the record's URL) shows it again.
    assert "<dialog" in text_of(client.get(record, follow=True))
    # So does opening the record after another one.
    other = PatronFactory(home_site=ams)
    note(other, ams, general, "Other pop-up.", is_popup=True)
    assert "Other pop-up." in text_of(client.get(tab_url(other, "personal")))
    assert client.session[SHOWN] == other.pk
    assert "Call the parents first." in text_of(client.get(tab_url(member, "personal")))


def test_no_dialog_without_pop_up_notes(client, librarian, member, ams, general):
    note(member, ams, general, "Quiet.")
    client.force_login(librarian)
    response = client.get(reverse("patrons:record", kwargs={"pk": member.pk}), follow=True)
    assert "<dialog" not in text_of(response)
    assert SHOWN not in client.session


# --- /me/ -------------------------------------------------------------------------------------


def test_notes_visible_to_the_patron_appear_on_their_page_and_no_others(
    client, member, ams, general
):
    note(member, ams, general, "Your card is ready.", is_visible_to_patron=True)
    note(member, ams, general, "Staff only: watch the fines.")
    client.force_login(member)
    page = text_of(client.get(reverse("me")))
    assert "Your card is ready." in page
    assert "Staff only: watch the fines." not in page
