"""The main pages under the Content-Security-Policy in Chromium: sign-in, the dashboard, a
live patron search and its filters, a record's tabs switched by htmx (and Back), the
Contact tab's notice channel showing the extra email field at once, /me/ for an operator
and a patron. Nothing may be refused by the policy, and nothing may fail in the console.
The header itself is asserted in tests/security/test_shared_computers.py."""

import pytest
from playwright.sync_api import expect

from patrons.models import Patron
from security.accounts import SIGNED_OUT
from tests.e2e import conftest as e2e
from tests.factories import PatronFactory

pytestmark = pytest.mark.e2e


@pytest.fixture
def reader(ams):
    return PatronFactory(
        username="reader",
        home_site=ams,
        first_name="Ada",
        last_name="Byron",
        email="ada.byron@example.org",
        communication_channel=Patron.Channel.MAIL,
    )


def test_the_main_pages_run_under_the_policy(
    live_server, librarian, reader, page, problems, screenshot
):
    page.goto(f"{live_server.url}/accounts/login/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    e2e.sign_in(page, live_server, librarian)
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Welcome")).to_be_visible()

    # The live search, and the address it pushes (issue 11b): only what is set.
    page.get_by_role("link", name="Patrons").first.click()
    page.get_by_label("Find patrons").press_sequentially("Byr")
    expect(page.get_by_role("link", name="Byron, Ada")).to_be_visible()
    expect(page).to_have_url(f"{live_server.url}/staff/patrons/?q=Byr")
    page.get_by_label("Status:").select_option(label="Active and not expired")
    expect(page).to_have_url(f"{live_server.url}/staff/patrons/?q=Byr&status=active")
    expect(page.get_by_role("link", name="Byron, Ada")).to_be_visible()
    screenshot("live-search")

    # A record, its tabs switched by htmx, and Back (reloaded from the server).
    page.get_by_role("link", name="Byron, Ada").click()
    expect(page.get_by_role("heading", name="Ada Byron")).to_be_visible()
    record = page.url
    page.get_by_role("navigation", name="Record tabs").get_by_role("link", name="Contact").click()
    expect(page).to_have_url(f"{live_server.url}/staff/patrons/{reader.pk}/contact/")
    extra_email = page.get_by_label("Additional communication email")
    expect(extra_email).to_be_hidden()
    page.get_by_label("Email", exact=True).check()
    expect(extra_email).to_be_visible()
    page.get_by_label("Mail", exact=True).check()
    expect(extra_email).to_be_hidden()
    screenshot("contact-tab")  # leaves empty style attributes behind, as scripts may
    page.get_by_role("navigation", name="Record tabs").get_by_role("link", name="Access").click()
    expect(page).to_have_url(f"{live_server.url}/staff/patrons/{reader.pk}/access/")
    page.go_back()
    expect(page).to_have_url(f"{live_server.url}/staff/patrons/{reader.pk}/contact/")
    expect(page.get_by_label("Mail", exact=True)).to_be_checked()
    page.go_back()
    expect(page).to_have_url(record)
    expect(page.get_by_role("heading", name="Ada Byron")).to_be_visible()

    page.get_by_title("My account").click()
    expect(page).to_have_url(f"{live_server.url}/me/")
    page.get_by_role("banner").get_by_role("button", name="Sign out").click()
    expect(page.get_by_text(SIGNED_OUT)).to_be_visible()

    e2e.sign_in(page, live_server, reader)
    expect(page).to_have_url(f"{live_server.url}/me/")
    expect(page.get_by_text("Hello, Ada")).to_be_visible()
    screenshot("my-page")

    assert problems == []
