"""Signing in and out, lockout, forced password change, password reset and /me/."""

import contextlib
import re

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from patrons.models import Patron
from security import mail as mail_sender
from security.accounts import SIGNED_OUT
from security.forms import LOGIN_INVALID
from tests.factories import DEFAULT_PASSWORD, PatronFactory

NEW_PASSWORD = "Q7x9-2468-Zk31"  # no likeness to any generated name or email


def _sign_in(client, username, password=DEFAULT_PASSWORD):
    return client.post(reverse("login"), {"username": username, "password": password})


def _sign_in_queries(typed: str) -> list[str]:
    with CaptureQueriesContext(connection) as queries, contextlib.suppress(Patron.DoesNotExist):
        Patron.objects.get_by_natural_key(typed)
    return [query["sql"] for query in queries.captured_queries]


def test_sign_in_looks_accounts_up_the_way_their_indexes_are_built(district_admin):
    """lower(username) is the unique constraint's expression and lower(email) the email
    index's: iexact would compile to UPPER(...) LIKE and read every account."""
    by_username, by_email = _sign_in_queries("Nobody@Example.org")
    assert 'LOWER("patrons_patron"."username") = \'nobody@example.org\'' in by_username
    assert 'LOWER("patrons_patron"."email") = \'nobody@example.org\'' in by_email
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'patron_email_ci'")
        assert "lower((email)::text)" in cursor.fetchone()[0]


def _signed_in_as(client):
    response = client.get(reverse("me"))
    return response.context["user"].username if response.status_code == 200 else None


@pytest.mark.parametrize(
    "typed", ["librarian", "LIBRARIAN", "librarian@example.org", "Librarian@Example.ORG"]
)
def test_operators_sign_in_by_username_or_email_to_the_dashboard(client, librarian, typed):
    """A Librarian: no second step by default (tests/security/test_two_factor.py)."""
    response = _sign_in(client, typed)

    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert _signed_in_as(client) == "librarian"


def test_patrons_sign_in_to_their_own_page(client, patron):
    response = _sign_in(client, "patron")

    assert response.status_code == 302
    assert response["Location"] == reverse("me")


def test_sign_in_honours_next(client, librarian):
    response = client.post(
        reverse("login"),
        {"username": "librarian", "password": DEFAULT_PASSWORD, "next": reverse("me")},
    )

    assert response["Location"] == reverse("me")


def test_wrong_password_is_refused_with_a_message(client, librarian):
    response = _sign_in(client, "librarian", "Wrong2024")

    assert response.status_code == 422
    assert LOGIN_INVALID in response.content.decode()
    assert _signed_in_as(client) is None


def test_an_account_without_username_cannot_sign_in(client, ams):
    PatronFactory(username=None, email="nouser@example.org", home_site=ams)

    response = _sign_in(client, "nouser@example.org")

    assert response.status_code == 422
    assert LOGIN_INVALID in response.content.decode()


def test_an_inactive_account_cannot_sign_in(client, ams):
    PatronFactory(username="gone", status=Patron.Status.SUSPENDED, home_site=ams)

    response = _sign_in(client, "gone")

    assert response.status_code == 422
    assert _signed_in_as(client) is None


def test_login_page_offers_password_reset(client, district_admin):
    response = client.get(reverse("login"))

    assert response.status_code == 200
    assert f'href="{reverse("password_reset")}"' in response.content.decode()
    assert "Forgot your password?" in response.content.decode()
    assert f'href="{reverse("setup")}"' not in response.content.decode()


def test_repeated_failures_lock_the_username_from_this_address(client, librarian, staff):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(client, "librarian", "Wrong2024")

    locked = _sign_in(client, "librarian")

    assert locked.status_code == 429
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    assert f"locked for {minutes} minutes" in " ".join(locked.content.decode().split())
    assert _signed_in_as(client) is None
    assert _sign_in(client, "staff").status_code == 302


def test_sign_out_is_a_post(client, librarian):
    client.force_login(librarian)

    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"), follow=True)

    assert response.redirect_chain[-1][0] == reverse("login")
    assert SIGNED_OUT in response.content.decode()
    assert _signed_in_as(client) is None


@pytest.fixture
def must_change(librarian):
    librarian.must_change_password = True
    librarian.save()
    return librarian


@pytest.mark.parametrize("url_name", ["home", "me", "sites:list"])
def test_forced_password_change_leads_every_page_to_the_form(client, must_change, url_name):
    client.force_login(must_change)

    response = client.get(reverse(url_name))

    assert response.status_code == 302
    assert response["Location"] == reverse("password_change")


def test_an_htmx_request_is_led_to_the_form_as_a_whole_page(client, must_change):
    """Not swapped into a tab of the page the operator had open."""
    client.force_login(must_change)
    response = client.get(reverse("patrons:list"), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("password_change")


def test_forced_password_change_is_cleared_by_changing_it(client, must_change):
    client.force_login(must_change)
    form = client.get(reverse("password_change"))
    assert "choose a new password before you continue" in form.content.decode()

    response = client.post(
        reverse("password_change"),
        {
            "old_password": DEFAULT_PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )

    assert response["Location"] == reverse("password_change_done")
    must_change.refresh_from_db()
    assert not must_change.must_change_password
    assert must_change.check_password(NEW_PASSWORD)
    assert client.get(reverse("home")).status_code == 200


def test_forced_password_change_stays_until_the_form_is_valid(client, must_change):
    client.force_login(must_change)

    response = client.post(
        reverse("password_change"),
        {"old_password": "Wrong2024", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 422
    must_change.refresh_from_db()
    assert must_change.must_change_password
    assert client.get(reverse("home"))["Location"] == reverse("password_change")


def test_without_the_flag_pages_open_normally(client, librarian):
    client.force_login(librarian)

    assert client.get(reverse("home")).status_code == 200


def _request_reset(client, email):
    """The request, then its email, which is sent after the response (security.mail)."""
    response = client.post(reverse("password_reset"), {"email": email})
    assert mail_sender.flush(timeout=10)
    return response


def test_password_reset_mails_a_link_without_revealing_accounts(client, patron):
    known = _request_reset(client, "PATRON@example.org")
    unknown = _request_reset(client, "nobody@example.org")

    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert known["Location"] == reverse("password_reset_done")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["patron@example.org"]
    done = client.get(known["Location"]).content.decode()
    assert "If an account with that email exists, we sent a link" in done
    assert "if you have no email on file, contact your library" in done.lower()


def test_password_reset_skips_accounts_that_cannot_sign_in(client, ams):
    PatronFactory(username=None, email="nouser@example.org", home_site=ams)

    response = _request_reset(client, "nouser@example.org")

    assert response["Location"] == reverse("password_reset_done")
    assert mail.outbox == []


def test_password_reset_link_sets_a_new_password_and_ends_a_lockout(client, librarian):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(client, "librarian", "Wrong2024")
    librarian.must_change_password = True
    librarian.save()
    _request_reset(client, librarian.email)
    link = re.search(r"https?://[^/]+(/\S+)", mail.outbox[0].body).group(1)

    form_url = client.get(link)["Location"]
    response = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    assert response["Location"] == reverse("password_reset_complete")
    librarian.refresh_from_db()
    assert not librarian.must_change_password
    assert _sign_in(client, "librarian", NEW_PASSWORD).status_code == 302


def test_my_page_shows_a_patron_their_card(client, patron):
    client.force_login(patron)

    page = client.get(reverse("me")).content.decode()

    assert f"Hello, {patron.get_short_name()}" in page
    assert patron.barcode in page and patron.home_site.name in page
    assert f'href="{reverse("password_change")}"' in page
    assert "staff dashboard" not in page


def test_my_page_shows_an_operator_their_group_and_the_dashboard(client, librarian):
    client.force_login(librarian)

    page = client.get(reverse("me")).content.decode()

    assert librarian.security_group.name in page
    assert f'href="{reverse("home")}"' in page and "staff dashboard" in page


def test_my_page_needs_sign_in(client, default_groups):
    response = client.get(reverse("me"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
