"""Library computers are shared: the Content-Security-Policy, no stored copies of pages,
a session cookie that dies with the browser, and idle sessions signed out on the server
(issue 10 a-c). The browser side of the policy is tests/e2e/test_csp.py."""

import re
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from security.middleware import ACTIVITY_KEY, SIGNED_OUT_IDLE
from tests.factories import DEFAULT_PASSWORD
from tests.security.test_configuration import run_manage

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
HTMX = {"HX-Request": "true"}
POLICY = {
    "default-src": "'none'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def policy_of(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    directives = [part.strip().split(" ", 1) for part in header.split(";") if part.strip()]
    return {name: value for name, value in directives}


def cache_control_of(response) -> set[str]:
    return {part.strip() for part in response.get("Cache-Control", "").split(",") if part.strip()}


def record_tab(patron, tab="contact"):
    return reverse("patrons:tab", kwargs={"pk": patron.pk, "tab": tab})


# --- Content-Security-Policy ----------------------------------------------------------------


def test_staff_pages_my_page_and_sign_in_carry_the_strict_policy(client, librarian, patron):
    anonymous = client.get(reverse("login"))
    client.force_login(librarian)
    pages = [
        anonymous,
        client.get(reverse("patrons:list")),
        client.get(record_tab(patron)),
        client.get(record_tab(patron), headers=HTMX),
        client.get(reverse("me")),
    ]

    for response in pages:
        assert response.status_code == 200
        assert policy_of(response) == POLICY
        assert "unsafe-inline" not in response["Content-Security-Policy"]
        assert "unsafe-eval" not in response["Content-Security-Policy"]


# Anything a policy without 'unsafe-inline' and 'unsafe-eval' would refuse to run or apply.
INLINE_CODE = {
    "inline script": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE),
    "event handler attribute": re.compile(r"\son[a-z]+\s*=", re.IGNORECASE),
    "hx-on attribute": re.compile(r"\s(data-)?hx-on", re.IGNORECASE),
    "htmx code attribute": re.compile(r"\s(data-)?hx-(vars|vals)\s*=\s*['\"]\s*(js|javascript):"),
    "javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
    "style attribute": re.compile(r"\sstyle\s*=", re.IGNORECASE),
    "style element": re.compile(r"<style", re.IGNORECASE),
}


@pytest.mark.parametrize("kind", INLINE_CODE)
def test_no_template_relies_on_inline_code_or_style(kind):
    found = [
        f"{path.relative_to(TEMPLATES)}: {match.group(0).strip()}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for match in INLINE_CODE[kind].finditer(path.read_text())
    ]
    assert found == []


# --- no stored copies -----------------------------------------------------------------------


def test_pages_with_personal_data_are_never_stored(client, librarian, patron):
    client.force_login(librarian)
    urls = [
        reverse("home"),
        reverse("patrons:list") + "?q=x",
        record_tab(patron),
        reverse("me"),
        reverse("password_change"),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        assert {"private", "no-store"} <= cache_control_of(response), url
    partial = client.get(record_tab(patron), headers=HTMX)
    assert {"private", "no-store"} <= cache_control_of(partial)


def test_static_files_stay_cacheable(client, settings):
    """Served by WhiteNoise (from the finders here: tests collect no static files)."""
    settings.WHITENOISE_USE_FINDERS = True

    response = client.get(settings.STATIC_URL + "css/libstaff.css")

    assert response.status_code == 200
    directives = cache_control_of(response)
    assert "public" in directives and "no-store" not in directives and "private" not in directives
    max_age = next(d for d in directives if d.startswith("max-age="))
    assert int(max_age.removeprefix("max-age=")) > 0


# --- the session cookie ---------------------------------------------------------------------


def test_the_session_cookie_ends_with_the_browser(client, librarian):
    response = client.post(
        reverse("login"), {"username": "librarian", "password": DEFAULT_PASSWORD}
    )

    assert response.status_code == 302
    cookie = response.cookies[django_settings.SESSION_COOKIE_NAME]
    assert cookie.value
    assert (cookie["expires"], cookie["max-age"]) == ("", "")


# --- idle sessions --------------------------------------------------------------------------


def idle_for(client, seconds: int) -> None:
    """Makes the signed-in session look unused for `seconds`, as stored on the server."""
    session = client.session
    session[ACTIVITY_KEY] = int(time.time()) - seconds
    session.save()


def stored_stamp(client) -> int:
    return client.session[ACTIVITY_KEY]


ROLES = [
    pytest.param("librarian", "home", django_settings.LIBSTAFF_STAFF_IDLE_MINUTES, id="operator"),
    pytest.param("patron", "me", django_settings.LIBSTAFF_PATRON_IDLE_MINUTES, id="patron"),
]


@pytest.mark.parametrize(("role", "page", "minutes"), ROLES)
def test_a_session_idle_just_under_the_limit_stays_signed_in(client, request, role, page, minutes):
    client.force_login(request.getfixturevalue(role))
    idle_for(client, minutes * 60 - 5)

    response = client.get(reverse(page))

    assert response.status_code == 200
    assert response.context["user"].username == role
    assert time.time() - stored_stamp(client) < 5  # the request counts as activity


@pytest.mark.parametrize(("role", "page", "minutes"), ROLES)
def test_a_session_idle_just_over_the_limit_is_signed_out(client, request, role, page, minutes):
    client.force_login(request.getfixturevalue(role))
    idle_for(client, minutes * 60 + 5)

    response = client.get(reverse(page))

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={reverse(page)}"
    sign_in_page = client.get(response["Location"])
    assert SIGNED_OUT_IDLE.format(minutes=minutes) in sign_in_page.content.decode()
    assert not sign_in_page.context["user"].is_authenticated
    assert client.get(reverse(page))["Location"].startswith(reverse("login"))


def test_the_limits_are_read_from_the_environment():
    result = run_manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings as s; "
        "print(s.LIBSTAFF_STAFF_IDLE_MINUTES, s.LIBSTAFF_PATRON_IDLE_MINUTES)",
        LIBSTAFF_STAFF_IDLE_MINUTES="12",
        LIBSTAFF_PATRON_IDLE_MINUTES="7",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["12", "7"]


def test_a_shorter_limit_applies_at_once(client, librarian, settings):
    settings.LIBSTAFF_STAFF_IDLE_MINUTES = 5
    client.force_login(librarian)
    idle_for(client, 5 * 60 + 5)

    response = client.get(reverse("home"))

    assert response["Location"].startswith(reverse("login"))


def test_an_idle_htmx_request_leads_the_whole_page_to_sign_in(client, librarian, patron):
    """Not the sign-in form swapped into the record's tab."""
    client.force_login(librarian)
    idle_for(client, django_settings.LIBSTAFF_STAFF_IDLE_MINUTES * 60 + 5)

    response = client.get(record_tab(patron), headers=HTMX)

    assert response["HX-Redirect"] == f"{reverse('login')}?next={record_tab(patron)}"
    assert not client.get(reverse("login")).context["user"].is_authenticated


def test_an_idle_post_leads_to_sign_in(client, librarian, patron):
    """Without a `next`: after signing in, the browser would GET a form's target."""
    client.force_login(librarian)
    idle_for(client, django_settings.LIBSTAFF_STAFF_IDLE_MINUTES * 60 + 5)

    response = client.post(record_tab(patron, "personal"), {"last_name": "Changed"})

    assert response["Location"] == reverse("login")
    assert not client.get(reverse("login")).context["user"].is_authenticated


def test_the_activity_stamp_is_written_at_most_once_a_minute(client, librarian):
    """Most requests write no session row; the first one a minute after the stamp does."""
    client.force_login(librarian)
    idle_for(client, 30)
    before = stored_stamp(client)

    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("home")).status_code == 200

    assert stored_stamp(client) == before
    assert not [q for q in queries.captured_queries if 'UPDATE "django_session"' in q["sql"]]

    idle_for(client, 61)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("home")).status_code == 200

    assert time.time() - stored_stamp(client) < 5
    assert [q for q in queries.captured_queries if 'UPDATE "django_session"' in q["sql"]]
