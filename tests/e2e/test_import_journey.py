"""Importing patrons in a real browser, with the work in the background of the request as
in production: a Librarian uploads a CSV, sees the preview with its one invalid row and one
change, applies the valid rows, watches the progress bar move by itself, and sees the
result; the list then filters on the feed."""

import pytest
from playwright.sync_api import expect

from patrons.models import ImportRun, Patron
from tests.e2e import conftest as e2e
from tests.factories import PatronFactory

pytestmark = pytest.mark.e2e

NEW_PATRONS = 20_000  # enough work for the progress bar to be seen


def test_upload_preview_apply_and_watch_the_progress(
    live_server, librarian, ams, page, problems, screenshot, tmp_path, settings
):
    settings.LIBSTAFF_IMPORT_IN_BACKGROUND = True
    PatronFactory(home_site=ams, barcode="E0001", first_name="Jon", last_name="Smith")
    rows = ["barcode,last_name,first_name,home_site", "E0001,Smith,Jonathan,AMS", "E0002,,Ann,AMS"]
    rows += [f"N{number:06d},Newcomer,Nia,AMS" for number in range(NEW_PATRONS)]
    roll = tmp_path / "roll.csv"
    roll.write_text("\n".join(rows) + "\n")
    e2e.sign_in(page, live_server, librarian)
    expect(page).to_have_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}/staff/patrons/import/")
    page.get_by_label("CSV file").set_input_files(str(roll))
    page.get_by_label("Import feed").fill("Student roll")
    page.get_by_role("button", name="Check the file").click()

    expect(page.get_by_text("Last name: required.")).to_be_visible(timeout=60_000)
    screenshot("preview-invalid")
    page.get_by_role("link", name="To update 1").click()
    expect(page.locator(".diff")).to_have_text("First name: Jon → Jonathan")
    screenshot("preview-diff")

    page.get_by_role("button", name=f"Apply the {NEW_PATRONS + 1} valid changes only").click()
    expect(page.get_by_role("progressbar")).to_be_visible()
    screenshot("progress")
    expect(page.get_by_role("heading", name="Applied")).to_be_visible(timeout=120_000)
    expect(page.get_by_text(f"{NEW_PATRONS} patrons created, 1 updated")).to_be_visible()
    screenshot("applied")
    assert ImportRun.objects.get().status == ImportRun.Status.APPLIED
    assert Patron.objects.get(barcode="E0001").first_name == "Jonathan"

    page.get_by_role("link", name="Imported patrons").click()
    expect(page.get_by_role("cell", name="Newcomer", exact=False).first).to_be_visible()
    assert problems == []
