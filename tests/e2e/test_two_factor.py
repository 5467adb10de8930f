"""Two-factor sign-in in a real browser: a Library Administrator signs in with a password,
sets up an authenticator from the page (on a phone-sized screen), keeps the recovery codes,
signs in again with one of them; a District Administrator resets it from the Access tab,
and the next sign-in asks for set-up again."""

import base64
import re

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from security.forms.two_factor import CONFIRM_LABEL, VERIFY_LABEL
from security.views.two_factor import RESET_DONE
from tests.e2e.conftest import sign_in
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.e2e

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}


def sign_in_with_password(page, live_server, user):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username or email").fill(user.username)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def sign_out(page):
    page.get_by_role("button", name="Sign out").first.click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))


def fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def code_from_the_page(page) -> str:
    """What an authenticator app shows after the key on the set-up page is typed into it."""
    secret = "".join(page.locator("[data-secret]").inner_text().split())
    return f"{TOTP(base64.b32decode(secret)).token():06d}"


def test_set_up_use_a_recovery_code_and_reset(
    live_server, library_admin, district_admin, page, screenshot
):
    page.set_viewport_size(PHONE)
    sign_in_with_password(page, live_server, library_admin)
    expect(page).to_have_url(re.compile(r"/accounts/two-factor/setup/"))
    expect(page.get_by_role("heading", name="Set up two-factor sign-in")).to_be_visible()
    expect(page.locator(".qr-code svg")).to_be_visible()
    assert fits_the_screen(page)
    screenshot("setup-375")

    page.get_by_label(CONFIRM_LABEL).fill("000000")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_text("That code was not accepted")).to_be_visible()
    page.wait_for_timeout(1100)  # django-otp's back-off after one wrong code: one second
    page.get_by_label(CONFIRM_LABEL).fill(code_from_the_page(page))
    page.get_by_role("button", name="Confirm").click()

    expect(page.get_by_role("heading", name="Two-factor sign-in is set up")).to_be_visible()
    codes = page.locator(".recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    assert fits_the_screen(page)
    screenshot("recovery-codes-375")
    page.get_by_role("link", name="Continue").click()
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("link", name="Two-factor sign-in")).to_be_visible()

    page.set_viewport_size(DESKTOP)
    sign_out(page)
    sign_in_with_password(page, live_server, library_admin)
    expect(page).to_have_url(re.compile(r"/accounts/two-factor/verify/"))
    page.get_by_label(VERIFY_LABEL).fill(codes[0])
    screenshot("verify-with-recovery-code")
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(f"{live_server.url}/")
    page.get_by_role("link", name="Two-factor sign-in").click()
    expect(page.locator(".facts")).to_contain_text(re.compile(r"Recovery codes left\s*9"))
    sign_out(page)

    sign_in(page, live_server, district_admin)
    expect(page).to_have_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/staff/patrons/{library_admin.pk}/access/")
    expect(page.get_by_text("Two-factor sign-in:")).to_be_visible()
    page.get_by_role("link", name="Reset two-factor sign-in").click()
    expect(
        page.get_by_role("heading", name=re.compile("Reset the two-factor sign-in"))
    ).to_be_visible()
    screenshot("reset-confirmation")
    page.get_by_role("button", name="Reset two-factor sign-in").click()
    expect(page.get_by_text(RESET_DONE.format(name=library_admin.display_name))).to_be_visible()
    expect(page.get_by_text("not set up yet")).to_be_visible()
    assert not TOTPDevice.objects.filter(user=library_admin).exists()
    assert not StaticDevice.objects.filter(user=library_admin).exists()
    sign_out(page)

    sign_in_with_password(page, live_server, library_admin)
    expect(page).to_have_url(re.compile(r"/accounts/two-factor/setup/"))
    expect(page.get_by_role("heading", name="Set up two-factor sign-in")).to_be_visible()
