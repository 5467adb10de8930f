"""A pop-up note in Chromium: it opens in a modal dialog, focused, when the record opens;
Escape dismisses it and a tab switch does not bring it back, nor does a reload or a note
added on the Notes tab; a new visit from the list shows it again, and its Close button
works from the keyboard. All of it under the strict Content-Security-Policy."""

import pytest
from playwright.sync_api import expect

from patrons.models import Note, NoteType
from patrons.views.notes import NOTE_ADDED
from tests.e2e import conftest as e2e
from tests.factories import PatronFactory

pytestmark = pytest.mark.e2e

POP_UP = "Allergic to peanuts: no snacks at the desk."


@pytest.fixture
def reader(ams):
    reader = PatronFactory(home_site=ams, first_name="Ada", last_name="Byron")
    alert, _ = NoteType.objects.get_or_create(code="alert", defaults={"name": "Alert"})
    Note.objects.create(patron=reader, note_type=alert, text=POP_UP, owner_site=ams, is_popup=True)
    Note.objects.create(patron=reader, note_type=alert, text="Not a pop-up.", owner_site=ams)
    return reader


def open_from_the_list(page, live_server):
    page.goto(f"{live_server.url}/staff/patrons/?q=Byron")
    page.get_by_role("link", name="Byron, Ada").click()
    expect(page.get_by_role("heading", name="Ada Byron", exact=True)).to_be_visible()


def test_a_pop_up_note_shows_once_per_visit(
    live_server, librarian, reader, page, problems, screenshot
):
    e2e.sign_in(page, live_server, librarian)
    expect(page).to_have_url(f"{live_server.url}/")
    open_from_the_list(page, live_server)

    dialog = page.get_by_role("dialog", name="Note for Ada Byron")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(POP_UP)
    expect(dialog).not_to_contain_text("Not a pop-up.")
    expect(dialog).to_be_focused()
    screenshot("pop-up")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)

    # A tab switch (htmx) does not bring it back; the Notes tab lists it.
    tabs = page.get_by_role("navigation", name="Record tabs")
    tabs.get_by_role("link", name="Notes").click()
    expect(page).to_have_url(f"{live_server.url}/staff/patrons/{reader.pk}/notes/")
    expect(page.get_by_text(POP_UP)).to_be_visible()
    expect(page.get_by_role("dialog")).to_have_count(0)

    # Adding a note (htmx) and a reload (a full page of the same visit): still not shown.
    page.get_by_label("Note:", exact=True).fill("Prefers large print.")
    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_text(NOTE_ADDED)).to_be_visible()
    expect(page.get_by_text("Prefers large print.")).to_be_visible()
    page.reload()
    expect(page.get_by_text("Prefers large print.")).to_be_visible()
    expect(page.get_by_role("dialog")).to_have_count(0)
    screenshot("notes-tab")

    # A new visit from the list shows it again; Close, reached with Tab, dismisses it.
    open_from_the_list(page, live_server)
    expect(dialog).to_be_visible()
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Close")).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog).to_have_count(0)
    tabs.get_by_role("link", name="Contact").click()
    expect(page).to_have_url(f"{live_server.url}/staff/patrons/{reader.pk}/contact/")
    expect(page.get_by_role("dialog")).to_have_count(0)

    assert problems == []
