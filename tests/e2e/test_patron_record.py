"""Patron records in a real browser: register (and meet the duplicate warning), edit the
Personal and Access tabs, a Librarian's group list and a crafted POST, a stale save by a
second operator, and the keyboard shortcuts."""

import io
import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from patrons.models import Patron
from security.models import Level
from tests.e2e import conftest as e2e
from tests.e2e.conftest import SCREENSHOTS
from tests.factories import PatronFactory, group_at

pytestmark = pytest.mark.e2e

FORBIDDEN_GROUPS = ("Librarian", "Library Administrator", "District Administrator")


def sign_in(page, live_server, user):
    """Password, then the second factor for operators who need one (tests/e2e/conftest.py)."""
    e2e.sign_in(page, live_server, user)
    expect(page).to_have_url(f"{live_server.url}/")


def tab_url(live_server, patron, tab):
    return f"{live_server.url}/staff/patrons/{patron.pk}/{tab}/"


def field(page, label):
    return page.get_by_label(label, exact=True)


def register(page, live_server, *, first, last, birth):
    page.goto(f"{live_server.url}/staff/patrons/new/")
    expect(field(page, "Barcode:")).to_have_value(re.compile(r"^20000\d{9}$"))
    field(page, "First name:").fill(first)
    field(page, "Last name:").fill(last)
    field(page, "Birth date:").fill(birth)


def test_register_and_meet_the_duplicate_warning(live_server, librarian, page, screenshot):
    sign_in(page, live_server, librarian)
    register(page, live_server, first="Grace", last="Hopper", birth="2010-12-09")
    screenshot("register-form")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(re.compile(r"/staff/patrons/\d+/personal/$"))
    expect(page.get_by_text("Grace Hopper registered")).to_be_visible()
    first = Patron.objects.get(last_name="Hopper")
    screenshot("registered")

    register(page, live_server, first="grace", last="HOPPER", birth="2010-12-09")
    page.get_by_role("button", name="Save", exact=True).click()
    warning = page.get_by_role("alert")
    expect(warning).to_contain_text("This patron may already be registered")
    link = warning.get_by_role("link", name="Grace Hopper")
    expect(link).to_have_attribute("href", f"/staff/patrons/{first.pk}/")
    screenshot("duplicate-warning")
    assert Patron.objects.filter(last_name__iexact="hopper").count() == 1

    page.get_by_label("Save anyway: this is a different person").check()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(re.compile(r"/staff/patrons/\d+/personal/$"))
    assert Patron.objects.filter(last_name__iexact="hopper").count() == 2
    screenshot("saved-anyway")


@pytest.mark.usefixtures("librarians_give_staff_groups")
def test_edit_personal_and_access(
    live_server, librarian, patron, ams_branch, page, screenshot, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    sign_in(page, live_server, librarian)
    page.goto(tab_url(live_server, patron, "personal"))
    field(page, "First name:").fill("Ramona")
    field(page, "Photo:").set_input_files(
        files=[{"name": "face.png", "mimeType": "image/png", "buffer": _png()}]
    )
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Personal saved.")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Ramona {patron.last_name}")
    expect(page.get_by_role("img", name=re.compile("Photo of Ramona"))).to_be_visible()
    screenshot("personal-saved")
    page.reload()
    expect(field(page, "First name:")).to_have_value("Ramona")
    assert Patron.objects.get(pk=patron.pk).first_name == "Ramona"

    page.get_by_role("link", name="Access").click()
    expect(page).to_have_url(tab_url(live_server, patron, "access"))
    field(page, "Security group:").select_option(label="Library Staff (3)")
    page.get_by_label(str(ams_branch)).check()
    screenshot("access-filled")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Access saved.")).to_be_visible()
    screenshot("access-saved")
    saved = Patron.objects.select_related("security_group").get(pk=patron.pk)
    assert saved.security_group.level == Level.LIBRARY_STAFF
    assert {site.code for site in saved.site_access.all()} == {"AMS", "AMSB"}


def test_a_librarian_cannot_give_the_librarian_group(
    live_server, librarian, patron, page, screenshot
):
    sign_in(page, live_server, librarian)
    page.goto(tab_url(live_server, patron, "access"))
    options = field(page, "Security group:").locator("option").all_inner_texts()
    assert options and not [o for o in options if o.startswith(FORBIDDEN_GROUPS)]
    screenshot("librarian-group-list")

    token = page.locator("input[name=csrfmiddlewaretoken]").first.input_value()
    response = page.request.post(
        tab_url(live_server, patron, "access"),
        form={
            "csrfmiddlewaretoken": token,
            "version": str(patron.version),
            "security_group": str(group_at(Level.LIBRARIAN).pk),
            "username": patron.username,
        },
        headers={"Referer": tab_url(live_server, patron, "access")},
    )
    assert response.status == 403
    assert Patron.objects.get(pk=patron.pk).security_group.level == Level.PATRON


def test_a_stale_save_is_refused(
    live_server, librarian, library_admin, patron, browser, page, screenshot
):
    second = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    try:
        for tab, who in ((page, librarian), (second, library_admin)):
            sign_in(tab, live_server, who)
            tab.goto(tab_url(live_server, patron, "personal"))

        field(page, "Cohort:").fill("First-2030")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_text("Personal saved.")).to_be_visible()
        screenshot("first-saved")

        field(second, "Cohort:").fill("Second-2031")
        second.get_by_role("button", name="Save").click()
        expect(second.get_by_text("while you were editing")).to_be_in_viewport()
        expect(field(second, "Cohort:")).to_have_value("First-2030")
        second.screenshot(path=str(SCREENSHOTS / "test_a_stale_save_is_refused-second.png"))
        assert Patron.objects.get(pk=patron.pk).cohort == "First-2030"
    finally:
        second.context.close()


def test_keyboard_shortcuts(live_server, librarian, patron, page, screenshot):
    sign_in(page, live_server, librarian)
    page.keyboard.press("/")  # on the dashboard: the top bar's search finds the patron
    expect(page.locator("[data-search]").first).to_be_focused()
    page.keyboard.type(patron.barcode)
    page.keyboard.press("Enter")
    expect(page).to_have_url(tab_url(live_server, patron, "personal"))
    page.locator("body").click()

    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    screenshot("shortcuts")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    page.keyboard.press("Alt+3")
    expect(page).to_have_url(tab_url(live_server, patron, "access"))
    page.get_by_role("button", name="Generate a password").click()
    generated = field(page, "New password:").input_value()
    assert len(generated) >= 12
    expect(field(page, "New password confirmation:")).to_have_value(generated)
    expect(page.get_by_text(f"New password: {generated}")).to_be_visible()
    page.get_by_role("button", name="Clear").click()
    page.keyboard.press("Control+s")
    expect(page.get_by_text("Access saved.")).to_be_visible()
    screenshot("saved-with-ctrl-s")
    assert Patron.objects.get(pk=patron.pk).check_password(generated)


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (40, 90, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def patron(ams):
    """A patron with a recognisable name and no photo (the role fixture's is random)."""
    return PatronFactory(username="patron", first_name="Rosa", last_name="Parks", home_site=ams)
