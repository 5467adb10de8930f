"""Browser journeys: one headless Debian Chromium per test session, a fresh context (no
cookies) per test, against pytest-django's live_server."""

import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; Django's ORM, used by the
# fixtures in the same thread, would otherwise refuse to run.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from security.forms.two_factor import VERIFY_LABEL  # noqa: E402
from tests.conftest import authenticator_code, two_factor_device  # noqa: E402
from tests.factories import DEFAULT_PASSWORD  # noqa: E402

CHROMIUM = os.environ.get("LIBSTAFF_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def screenshot(page, request):
    """screenshot("step") saves test-artifacts/screenshots/<test name>-<nn>-<step>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    steps = []

    def take(step: str) -> Path:
        steps.append(step)
        path = SCREENSHOTS / f"{request.node.name}-{len(steps):02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def sign_in(page, live_server, user, password=DEFAULT_PASSWORD):
    """Signs in through the login form and lands on the dashboard (or the page the login
    leads to). An operator who must use two-factor sign-in gets an authenticator first if
    they have none (tests.conftest.two_factor_device), then types its current code."""
    device = two_factor_device(user)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username or email").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    if device is not None:
        type_second_factor(page, device)


def type_second_factor(page, device):
    """On the verify page: types the code the device's authenticator app shows now."""
    expect(page.get_by_role("heading", name="Two-factor sign-in")).to_be_visible()
    page.get_by_label(VERIFY_LABEL).fill(authenticator_code(device))
    page.get_by_role("button", name="Verify").click()


# Chromium reports each refusal on the console too; this catches them whatever its wording.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (event) {
  console.error("CSP violation: " + event.violatedDirective + " blocked " + event.blockedURI);
});
"""


@pytest.fixture
def problems(page):
    """Console errors, uncaught exceptions and Content-Security-Policy violations, as they
    happen: a journey ends with `assert problems == []`."""
    found = []
    page.add_init_script(REPORT_VIOLATIONS)
    page.on("console", lambda msg: found.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda error: found.append(f"uncaught: {error}"))
    return found
