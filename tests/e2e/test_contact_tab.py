"""A librarian gives a patron an email and a phone on the Contact tab, then removes the
email again: notices switch to email and back to mail, and the tab says so."""

import re

import pytest
from playwright.sync_api import expect

from patrons import services
from patrons.models import Patron
from tests.e2e import conftest as e2e
from tests.factories import PatronFactory

pytestmark = pytest.mark.e2e


@pytest.fixture
def reader(ams):
    return PatronFactory(
        home_site=ams,
        first_name="Ada",
        last_name="Byron",
        email="",
        communication_channel=Patron.Channel.MAIL,
    )


def sign_in(page, live_server, username):
    """Password, then the second factor for operators who need one (tests/e2e/conftest.py)."""
    e2e.sign_in(page, live_server, Patron.objects.get(username=username))
    expect(page).to_have_url(f"{live_server.url}/")


def test_adding_and_removing_contact_details(live_server, librarian, reader, page, screenshot):
    sign_in(page, live_server, "librarian")
    page.goto(f"{live_server.url}/staff/patrons/{reader.pk}/contact/")
    expect(page.get_by_text("No emails.")).to_be_visible()
    expect(page.get_by_label("Mail", exact=True)).to_be_checked()
    screenshot("empty")

    page.get_by_role("button", name="Add email").click()
    page.get_by_label("Email address").fill("ada@example.org")
    page.get_by_role("button", name="Add phone").click()
    expect(page.get_by_label("Email address")).to_have_value("ada@example.org")
    page.get_by_label("Phone number").fill("+44 20 7946 0018")
    screenshot("filled")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_text("Contact saved.")).to_be_visible()
    expect(page.get_by_text(services.CHANNEL_TO_EMAIL)).to_be_visible()
    expect(page.get_by_label("Email", exact=True)).to_be_checked()
    screenshot("saved")

    page.reload()
    expect(page.get_by_label("Email address")).to_have_value("ada@example.org")
    expect(page.get_by_label("Phone number")).to_have_value("+44 20 7946 0018")
    expect(page.get_by_label("Additional communication email")).to_be_visible()

    page.get_by_role("group", name="Email 1").get_by_label("Remove").check()
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_text("No email left: notices will go by mail.")).to_be_visible()
    expect(page.get_by_label("Mail", exact=True)).to_be_checked()
    expect(page.get_by_text("No emails.")).to_be_visible()
    expect(page.get_by_label("Additional communication email")).to_be_hidden()
    expect(page.get_by_label("Phone number")).to_have_value("+44 20 7946 0018")
    screenshot("email-removed")
    page.get_by_label("Email", exact=True).check()  # shown at once, before any save
    expect(page.get_by_label("Additional communication email")).to_be_visible()
    reader.refresh_from_db()
    assert (reader.email, reader.communication_channel) == ("", "mail")


def test_enter_in_a_field_saves_rather_than_adds_a_row(live_server, librarian, reader, page):
    sign_in(page, live_server, "librarian")
    page.goto(f"{live_server.url}/staff/patrons/{reader.pk}/contact/")
    page.get_by_role("button", name="Add phone").click()
    page.get_by_label("Phone number").fill("555 0100 42")
    page.get_by_label("Phone number").press("Enter")
    expect(page.get_by_text("Contact saved.")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/contact/$"))
    assert reader.phones.get().number == "555 0100 42"
