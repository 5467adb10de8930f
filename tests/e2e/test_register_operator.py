"""Registering an operator in one step, in Chromium: the sign-in fields and site access
appear when a staff group is chosen, and the new operator signs in."""

import pytest
from playwright.sync_api import expect

from patrons.models import Patron
from security.models import Level
from tests.e2e import conftest as e2e
from tests.factories import group_at

pytestmark = pytest.mark.e2e

PASSWORD = "Shelving42books"


@pytest.mark.usefixtures("librarians_give_staff_groups")
def test_a_staff_group_brings_the_sign_in_fields(
    live_server, librarian, ams, page, problems, screenshot
):
    e2e.sign_in(page, live_server, librarian)
    page.goto(f"{live_server.url}/staff/patrons/new/")
    sign_in_fields = page.get_by_role("group", name="Sign-in and site access")
    expect(sign_in_fields).to_be_hidden()

    page.get_by_label("First name:", exact=True).fill("Grace")
    page.get_by_label("Last name:", exact=True).fill("Hopper")
    page.get_by_label("Primary email:").fill("grace@example.org")
    page.get_by_label("Security group:").select_option(str(group_at(Level.LIBRARY_STAFF).pk))
    expect(sign_in_fields).to_be_visible()
    page.get_by_label("Username:").fill("ghopper")
    page.get_by_label("Password:", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation:").fill(PASSWORD)
    screenshot("staff")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Grace Hopper registered")).to_be_visible()

    staff = Patron.objects.get(username="ghopper")
    assert staff.security_group.level == Level.LIBRARY_STAFF
    assert staff.check_password(PASSWORD)
    assert problems == []
