"""The History tab in Chromium: a change made on the Personal tab through the page shows on
the History tab with the operator's name and old -> new values, under the strict
Content-Security-Policy (no console errors, no policy violations)."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e import conftest as e2e
from tests.factories import PatronFactory

pytestmark = pytest.mark.e2e


def test_a_personal_change_shows_in_the_history(
    live_server, librarian, ams, page, problems, screenshot
):
    reader = PatronFactory(home_site=ams, first_name="Ada", last_name="Byron")

    e2e.sign_in(page, live_server, librarian)
    expect(page).to_have_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/staff/patrons/{reader.pk}/personal/")
    page.get_by_label("First name:", exact=True).fill("Augusta")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Personal saved.")).to_be_visible()

    page.get_by_role("navigation", name="Record tabs").get_by_role("link", name="History").click()
    expect(page).to_have_url(re.compile(rf"/staff/patrons/{reader.pk}/history/$"))
    newest = page.get_by_role("row").nth(1)
    expect(newest).to_contain_text(librarian.display_name)
    expect(newest).to_contain_text("First name: Ada → Augusta")
    screenshot("history")

    # The filter, by its form (htmx), keeps the change on its own tab.
    page.get_by_label("Show changes of").select_option("contact")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"/history/\?tab=contact$"))
    expect(page.get_by_text("First name: Ada → Augusta")).to_have_count(0)
    page.get_by_label("Show changes of").select_option("personal")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_text("First name: Ada → Augusta")).to_be_visible()
    assert problems == []
