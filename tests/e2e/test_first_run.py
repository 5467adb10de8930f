"""A fresh install in a real browser: set up, set up two-factor sign-in, see the dashboard,
sign out and back in with a code."""

import base64
import re

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from security.forms import LOGIN_INVALID
from security.forms.two_factor import CONFIRM_LABEL
from tests.e2e.conftest import type_second_factor

pytestmark = pytest.mark.e2e

PASSWORD = "Shelves2024"


def test_first_run_sets_up_and_signs_in(live_server, default_groups, page, screenshot):
    page.goto(f"{live_server.url}/accounts/login/")
    screenshot("login-setup-notice")
    page.get_by_role("link", name="Set up LibStaff").click()
    expect(page).to_have_url(re.compile(r"/setup/$"))
    screenshot("setup-form")

    page.get_by_label("Site code").fill("DIST")
    page.get_by_label("Site name").fill("Springfield School District")
    page.get_by_label("First name").fill("Ada")
    page.get_by_label("Last name").fill("Lovelace")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Email").fill("ada@example.org")
    page.get_by_label(re.compile(r"^Password:?$")).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    screenshot("setup-filled")
    page.get_by_role("button", name="Create and sign in").click()

    # The District Administrator sets up two-factor sign-in before anything else.
    expect(page).to_have_url(re.compile(r"/accounts/two-factor/setup/"))
    expect(page.get_by_text("LibStaff is set up. Welcome, Ada")).to_be_visible()
    screenshot("two-factor-setup")
    secret = page.locator("[data-secret]").inner_text()
    code = TOTP(base64.b32decode("".join(secret.split()))).token()
    page.get_by_label(CONFIRM_LABEL).fill(f"{code:06d}")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Two-factor sign-in is set up")).to_be_visible()
    expect(page.locator(".recovery-codes code")).to_have_count(10)
    page.get_by_role("link", name="Continue").click()

    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Welcome, Ada")).to_be_visible()
    expect(page.get_by_role("heading", name="Getting started")).to_be_visible()
    expect(page.get_by_text("Ada Lovelace").first).to_be_visible()
    screenshot("dashboard")

    page.get_by_role("button", name="Sign out").first.click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.get_by_role("link", name="Set up LibStaff")).to_have_count(0)
    screenshot("signed-out")

    page.get_by_label("Username or email").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    type_second_factor(page, TOTPDevice.objects.get(user__username="ada"))

    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Welcome, Ada")).to_be_visible()
    screenshot("signed-in-again")


def test_wrong_password_shows_the_error(live_server, district_admin, page, screenshot):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username or email").fill("district")
    page.get_by_label("Password").fill("NotThePassword1")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_text(LOGIN_INVALID)).to_be_visible()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    screenshot("wrong-password")
