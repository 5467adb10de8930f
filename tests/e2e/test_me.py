"""A patron on a phone signs in to their own page, changes a phone number, changes their
password, downloads their data and signs out; the page fits a 375 px screen and a 1280 px
one."""

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from patrons import services
from patrons.models import Patron
from patrons.views.me import DETAILS_SAVED
from security.accounts import SIGNED_OUT
from tests.factories import DEFAULT_PASSWORD, PatronFactory

pytestmark = pytest.mark.e2e

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
NEW_PASSWORD = "Q7x9-2468-Zk31"  # no likeness to any generated name or email


@pytest.fixture
def reader(staff, ams):
    patron = PatronFactory(
        username="reader", home_site=ams, first_name="Ada", last_name="Byron", email=""
    )
    services.patron_contact_update(
        actor=staff,
        patron=patron,
        version=patron.version,
        fields={},
        emails=[services.EmailEntry("ada.byron@example.org")],
        addresses=[services.AddressEntry("12 St James's Square", city="London")],
        phones=[services.PhoneEntry("555 0100 11")],
        guardians=[],
    )
    return patron


def fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_patron_looks_after_their_account_on_a_phone(
    live_server, reader, page, screenshot, tmp_path
):
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username or email").fill("ada.byron@example.org")
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(f"{live_server.url}/me/")
    expect(page.get_by_role("heading", name="Hello, Ada")).to_be_visible()
    expect(page.get_by_text(reader.barcode)).to_be_visible()
    expect(page.get_by_text("You have no fees.")).to_be_visible()
    assert fits_the_screen(page)
    screenshot("me-375")

    page.get_by_role("link", name="Edit contact details").click()
    expect(page.get_by_role("heading", name="My contact details")).to_be_visible()
    assert fits_the_screen(page)
    page.get_by_label("Phone number").fill("+44 20 7946 0018")
    screenshot("contact-375")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page).to_have_url(f"{live_server.url}/me/")
    expect(page.get_by_text(DETAILS_SAVED)).to_be_visible()
    expect(page.get_by_text("+44 20 7946 0018")).to_be_visible()

    page.get_by_role("link", name="Change password").click()
    page.get_by_label("Old password").fill(DEFAULT_PASSWORD)
    page.get_by_label(re.compile(r"^New password:?$")).fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("heading", name="Password changed")).to_be_visible()
    page.get_by_role("link", name="Continue").click()
    expect(page).to_have_url(f"{live_server.url}/me/")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download my data").click()
    download = download_info.value
    assert re.fullmatch(r"my-library-data-\d{4}-\d{2}-\d{2}\.json", download.suggested_filename)
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    data = json.loads(Path(saved).read_text())
    assert data["record"]["barcode"] == reader.barcode
    assert [phone["number"] for phone in data["phones"]] == ["+44 20 7946 0018"]
    assert "password" not in data["record"]

    page.set_viewport_size(DESKTOP)
    page.reload()
    assert fits_the_screen(page)
    screenshot("me-1280")

    page.get_by_role("button", name="Sign out").first.click()
    expect(page.get_by_text(SIGNED_OUT)).to_be_visible()
    reader.refresh_from_db()
    assert reader.check_password(NEW_PASSWORD)
    assert Patron.objects.get(pk=reader.pk).phones.get().number == "+44 20 7946 0018"
