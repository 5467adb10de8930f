"""Preferences in a real browser: a Librarian raises the password length, sets the barcode
counter, adds a note type and finds a type that records use not deletable; the register
page then offers the new barcode."""

import pytest
from playwright.sync_api import expect

from patrons.models import Note, NoteType
from security.models import OperatorAction, Preferences
from tests.e2e.test_patron_record import sign_in
from tests.factories import PatronFactory

pytestmark = pytest.mark.e2e


def test_a_librarian_changes_preferences_and_a_list(live_server, librarian, ams, page, screenshot):
    used, _ = NoteType.objects.get_or_create(code="general", defaults={"name": "General"})
    Note.objects.create(
        patron=PatronFactory(home_site=ams), note_type=used, text="Hi", owner_site=ams
    )
    sign_in(page, live_server, librarian)
    page.get_by_role("link", name="Preferences", exact=True).click()
    expect(page.get_by_role("heading", name="Preferences", exact=True)).to_be_visible()
    screenshot("page")

    page.get_by_label("Minimum password length:").fill("10")
    page.get_by_label("Barcode prefix:").fill("31")
    page.get_by_label("Next barcode number:").fill("700")
    page.get_by_role("button", name="Save preferences").click()
    expect(page.get_by_text("Preferences saved.")).to_be_visible()
    expect(page.locator("#next-barcode")).to_have_text("31000000700")
    assert Preferences.objects.get().password_min_length == 10

    page.get_by_role("link", name="Note types").click()
    page.get_by_label("Name of a new entry").fill("Reading level")
    page.get_by_label("Code of a new entry").fill("reading_level")
    page.get_by_role("button", name="Save note types").click()
    expect(page.get_by_text("Note types saved.")).to_be_visible()
    expect(page.get_by_text("In use")).to_be_visible()
    expect(page.get_by_label("Delete General")).to_be_disabled()
    screenshot("note-types")
    assert NoteType.objects.filter(code="reading_level", name="Reading level").exists()

    page.goto(f"{live_server.url}/staff/patrons/new/")
    expect(page.get_by_label("Barcode:", exact=True)).to_have_value("31000000700")
    actions = OperatorAction.objects.filter(action=OperatorAction.Kind.PREFERENCES_CHANGED)
    assert actions.count() == 2
