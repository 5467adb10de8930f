"""Merging two patron records in a real browser, under the strict Content-Security-Policy
and with nothing in the console: a Librarian opens the merge page, picks the two records by
barcode, keeps the other record's first name, merges, and lands on the survivor's record,
where the merged-away barcode now finds it."""

import pytest
from playwright.sync_api import expect

from patrons.models import Patron
from patrons.views.merge import MERGED
from tests.e2e import conftest as e2e
from tests.factories import PatronFactory

pytestmark = pytest.mark.e2e


def test_pick_two_records_choose_a_field_and_merge(
    live_server, librarian, ams, page, problems, screenshot
):
    survivor = PatronFactory(home_site=ams, first_name="Jon", last_name="Doe", barcode="S1001")
    merged = PatronFactory(home_site=ams, first_name="Jonathan", last_name="Doe", barcode="M1001")
    e2e.sign_in(page, live_server, librarian)
    expect(page).to_have_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}/staff/patrons/merge/")
    expect(page.get_by_role("heading", name="Merge patrons")).to_be_visible()
    page.get_by_label("Surviving record (barcode or id)").fill("S1001")
    page.get_by_label("Record merged into it (barcode or id)").fill("M1001")
    page.get_by_role("button", name="Compare").click()
    expect(page.get_by_role("heading", name="Jonathan Doe is merged into Jon Doe")).to_be_visible()
    expect(page.get_by_text("The surviving record keeps its own access")).to_be_visible()
    screenshot("preview")

    page.get_by_role("radio", name="Jonathan", exact=True).check()
    page.get_by_role("button", name="Merge the records").click()

    expect(page).to_have_url(f"{live_server.url}/staff/patrons/{survivor.pk}/personal/")
    expect(page.get_by_text(MERGED.format(merged="Jonathan Doe", barcode="M1001"))).to_be_visible()
    screenshot("merged")
    assert not Patron.objects.filter(pk=merged.pk).exists()
    assert Patron.objects.get(pk=survivor.pk).first_name == "Jonathan"

    # The old card still finds the survivor.
    page.goto(f"{live_server.url}/staff/patrons/?q=M1001")
    expect(page.get_by_text("Jonathan Doe").first).to_be_visible()
    assert problems == []
