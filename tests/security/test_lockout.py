"""Sign-in lockout (django-axes): counted per account, whichever of its identifiers was typed,
and per client address (an IPv6 address by its /64); ended by a password reset however it
came about; and whatever name a client sends, a form error rather than a crash. The
deployment side (the app reachable only through the proxy that X-Forwarded-For is trusted
from) is in the README and docker-compose.yml."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from security.forms import LOGIN_INVALID, LOGIN_TOO_LONG
from tests.factories import DEFAULT_PASSWORD, PatronFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
LOGIN = reverse("login")
WRONG = "Wrong2024"
NEW_PASSWORD = "Q7x9-2468-Zk31"
HERE = "203.0.113.10"
ELSEWHERE = "203.0.113.20"


def sign_in(client, username, password=DEFAULT_PASSWORD, address=HERE):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def fail(client, typed_names, address=HERE):
    """One wrong password for each name: refused as wrong, the last one perhaps as the
    attempt that locks (django-axes answers it with the lockout page)."""
    for typed in typed_names:
        assert sign_in(client, typed, WRONG, address).status_code in (422, 429)


def reset_link(user) -> str:
    """The link of the password-reset email (tests/security/test_accounts.py follows the
    email itself)."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token})


def locked(response) -> bool:
    return response.status_code == 429


@pytest.fixture
def limit():
    return settings.AXES_FAILURE_LIMIT


def test_typing_the_email_instead_gives_no_more_guesses(client, aide, staff, limit):
    """Five wrong passwords for demo-aide lock demo-aide@example.org as well, and mixing
    the two, in any case, counts as one account."""
    assert aide.email == "aide@example.org"
    fail(client, ["aide"] * limit)

    for typed in ("aide@example.org", "AIDE@Example.org", " Aide "):
        assert locked(sign_in(client, typed))
    assert sign_in(client, "staff").status_code == 302  # another account is not locked
    # Per address: from elsewhere the account signs in (a stranger cannot lock it out).
    assert sign_in(client, "aide@example.org", address=ELSEWHERE).status_code == 302


def test_mixed_identifiers_add_up_to_one_lockout(client, aide, limit):
    """A name no account has is counted apart, as typed (folded: "Nobody " is "nobody")."""
    fail(client, ["aide", "AIDE@example.org"] * (limit // 2) + ["aide"] * (limit % 2))
    assert locked(sign_in(client, "Aide"))

    for typed in ["Nobody@Example.org "] * (limit - 1):
        assert sign_in(client, typed, WRONG).status_code == 422
    assert locked(sign_in(client, "nobody@example.org", WRONG))


def test_an_ipv6_client_is_counted_by_its_network(client, aide, limit):
    """One host holds a whole /64: a new address for each guess must not reset the count."""
    for number in range(1, limit + 1):
        fail(client, ["aide"], address=f"2001:db8:5:6::{number:x}")

    assert locked(sign_in(client, "aide", address="2001:db8:5:6:ffff::1"))
    assert sign_in(client, "aide", address="2001:db8:5:7::1").status_code == 302


def test_a_password_reset_ends_the_lockout_however_it_came_about(client, ams, limit):
    """Locked by its email from one address and by its username (with capitals, as it was
    given) from another: after the reset the account signs in from both, either way."""
    ada = PatronFactory(username="Ada.Lovelace", email="ada@example.org", home_site=ams)
    fail(client, ["ADA@example.org"] * limit, address=HERE)
    fail(client, ["Ada.Lovelace"] * limit, address=ELSEWHERE)
    assert locked(sign_in(client, "ada.lovelace", address=HERE))
    assert locked(sign_in(client, "ada@example.org", address=ELSEWHERE))

    form_url = client.get(reset_link(ada))["Location"]
    done = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done["Location"] == reverse("password_reset_complete")

    for typed, address in (("Ada.Lovelace", HERE), ("ada@example.org", ELSEWHERE)):
        signed_in = sign_in(client, typed, NEW_PASSWORD, address)
        assert signed_in.status_code == 302, typed
        client.post(reverse("logout"))


@pytest.mark.parametrize("length", [255, 256, 10_000])
def test_a_name_too_long_for_any_account_is_a_form_error(client, librarian, length):
    response = sign_in(client, "x" * length)

    assert response.status_code == 422
    page = response.content.decode()
    assert LOGIN_TOO_LONG in page
    assert LOGIN_INVALID not in page


@pytest.mark.parametrize("length", [256, 10_000])
def test_the_admin_sign_in_survives_a_name_too_long(client, district_admin, length):
    """Django's admin sign-in form has no length check of its own: the lockout's record
    of the attempt cuts the name instead of failing."""
    response = client.post(reverse("admin:login"), {"username": "y" * length, "password": WRONG})
    assert response.status_code == 200
    assert "Please enter the correct" in response.content.decode()


def test_docker_compose_publishes_the_app_on_this_machine_only_by_default():
    """With LIBSTAFF_TRUSTED_PROXIES set, a client reaching the app directly forges its
    X-Forwarded-For address for every guess: the app must be reachable through the proxy
    only. Nothing else is published (the database is not)."""
    compose = (ROOT / "docker-compose.yml").read_text()
    published = re.findall(r'^\s+- "([^"]*:\d+)"\s*$', compose, flags=re.MULTILINE)
    assert published == ["${WEB_BIND:-127.0.0.1}:${WEB_PORTS:-8000-8009}:8000"]
    assert "LIBSTAFF_TRUSTED_PROXIES: ${LIBSTAFF_TRUSTED_PROXIES:-0}" in compose
