"""First run: /setup/ and `manage.py bootstrap` create the district and its District
Administrator once, and never again."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from patrons.models import Patron
from security import accounts, services
from security.management.commands.bootstrap import NO_PASSWORD, PASSWORD_ENV
from security.models import Level
from security.passwords import NEEDS_LETTERS_AND_NUMBERS
from security.services import ALREADY_INSTALLED
from sites.models import Site

PASSWORD = "Shelves2024"
SETUP = {
    "site_code": "dist",
    "site_name": "Springfield School District",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "username": "ada",
    "email": "ada@example.org",
    "password1": PASSWORD,
    "password2": PASSWORD,
}
REQUIRED = "This field is required."


def _district_administrators():
    return Patron.objects.filter(security_group__level=Level.DISTRICT_ADMINISTRATOR)


@pytest.fixture
def fresh(default_groups):
    """A fresh install: the default groups, no site, nobody."""


def test_setup_page_opens_on_a_fresh_install(client, fresh):
    response = client.get(reverse("setup"))
    assert response.status_code == 200
    assert b"Set up LibStaff" in response.content


def test_setup_creates_the_district_and_signs_the_administrator_in(client, fresh):
    response = client.post(reverse("setup"), SETUP)

    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    site = Site.objects.get()
    assert (site.code, site.name, site.kind) == ("DIST", SETUP["site_name"], Site.Kind.DISTRICT)
    admin = _district_administrators().get()
    assert (admin.username, admin.email, admin.home_site) == ("ada", "ada@example.org", site)
    assert list(admin.site_access.all()) == [site]
    assert [e.address for e in admin.emails.filter(is_primary=True)] == ["ada@example.org"]
    assert admin.check_password(PASSWORD)
    # Before anything else, the new District Administrator sets up two-factor sign-in.
    dashboard = client.get(reverse("home"))
    assert dashboard["Location"] == f"{reverse('two_factor_setup')}?next=%2F"
    set_up = client.get(dashboard["Location"])
    assert set_up.status_code == 200
    assert accounts.SETUP_DONE.format(name="Ada") in set_up.content.decode()


@pytest.mark.parametrize("method", ["get", "post"])
def test_setup_is_gone_once_a_district_administrator_exists(client, district_admin, method):
    sites, patrons = Site.objects.count(), Patron.objects.count()

    response = getattr(client, method)(reverse("setup"), SETUP)

    assert response.status_code == 404
    assert (Site.objects.count(), Patron.objects.count()) == (sites, patrons)
    assert not _district_administrators().filter(username="ada").exists()


def test_setup_refuses_a_weak_password_next_to_the_field(client, fresh):
    weak = {**SETUP, "password1": "shelvesonly", "password2": "shelvesonly"}

    response = client.post(reverse("setup"), weak)

    assert response.status_code == 422
    assert response.context["form"].errors["password2"] == [NEEDS_LETTERS_AND_NUMBERS]
    assert NEEDS_LETTERS_AND_NUMBERS in response.content.decode()
    assert not Site.objects.exists() and not Patron.objects.exists()


def test_setup_refuses_a_password_like_the_username(client, fresh):
    similar = {**SETUP, "username": "shelves2024ok", "password1": "Shelves2024ok"}
    similar["password2"] = similar["password1"]

    response = client.post(reverse("setup"), similar)

    assert response.status_code == 422
    assert "password2" in response.context["form"].errors


def test_setup_requires_an_email(client, fresh):
    response = client.post(reverse("setup"), {**SETUP, "email": ""})

    assert response.status_code == 422
    assert response.context["form"].errors["email"] == [REQUIRED]
    assert not Patron.objects.exists()


def test_setup_refuses_passwords_that_differ(client, fresh):
    response = client.post(reverse("setup"), {**SETUP, "password2": "Different2024"})

    assert response.status_code == 422
    assert "password2" in response.context["form"].errors
    assert not Patron.objects.exists()


def test_login_page_points_to_setup_until_installed(client, fresh):
    setup_link = f'href="{reverse("setup")}"'
    assert setup_link in client.get(reverse("login")).content.decode()

    client.post(reverse("setup"), SETUP)
    client.post(reverse("logout"))

    assert setup_link not in client.get(reverse("login")).content.decode()


def test_other_pages_are_not_redirected_to_setup(client, fresh):
    response = client.get(reverse("home"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_setup_can_load_the_demo_data(client, fresh):
    """Needs patrons/management/commands/seed_demo.py."""
    response = client.post(reverse("setup"), {**SETUP, "load_demo": "on"}, follow=True)

    assert response.status_code == 200
    assert accounts.DEMO_LOADED in response.content.decode()
    assert Patron.objects.count() > accounts.DEMO_PATRONS


def test_install_refuses_a_second_district_administrator(fresh):
    arguments = {k: SETUP[k] for k in ("site_code", "site_name", "username", "email")}
    services.install_first_district_administrator(
        **arguments, password=PASSWORD, last_name="Lovelace"
    )

    with pytest.raises(ValidationError) as refused:
        services.install_first_district_administrator(
            **{**arguments, "site_code": "OTHER", "username": "bob", "email": "bob@example.org"},
            password=PASSWORD,
            last_name="Builder",
        )

    assert refused.value.messages == [ALREADY_INSTALLED]
    assert _district_administrators().count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_installs_create_one_district_administrator(default_groups):
    start, outcomes = threading.Barrier(2), []

    def install(n):
        start.wait()
        try:
            services.install_first_district_administrator(
                site_code=f"D{n}",
                site_name=f"District {n}",
                username=f"admin{n}",
                email=f"admin{n}@example.org",
                password=PASSWORD,
                last_name=f"Admin {n}",
            )
            outcomes.append("created")
        except ValidationError as error:
            outcomes.append(error.messages[0])
        finally:
            connection.close()

    threads = [threading.Thread(target=install, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == sorted(["created", ALREADY_INSTALLED])
    assert _district_administrators().count() == 1


def _bootstrap(**options):
    arguments = {
        "site_code": "DIST",
        "site_name": "Springfield School District",
        "username": "ada",
        "email": "ada@example.org",
        "last_name": "Lovelace",
        **options,
    }
    call_command("bootstrap", **arguments)


def test_bootstrap_creates_the_district_administrator_once(fresh):
    _bootstrap(password=PASSWORD, first_name="Ada")

    admin = _district_administrators().get()
    assert (admin.username, admin.first_name, admin.home_site.code) == ("ada", "Ada", "DIST")
    assert admin.check_password(PASSWORD)
    with pytest.raises(CommandError, match=ALREADY_INSTALLED):
        _bootstrap(password=PASSWORD, username="bob", site_code="OTHER")
    assert _district_administrators().count() == 1


def test_bootstrap_reads_the_password_from_the_environment_and_loads_demo_data(fresh, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)

    _bootstrap(demo=True)

    assert _district_administrators().get(username="ada").check_password(PASSWORD)
    assert Patron.objects.count() > accounts.DEMO_PATRONS


def test_bootstrap_without_a_password_or_terminal_explains(fresh, monkeypatch):
    monkeypatch.delenv(PASSWORD_ENV, raising=False)

    with pytest.raises(CommandError, match=PASSWORD_ENV) as refused:
        _bootstrap()

    assert str(refused.value) == NO_PASSWORD
    assert not Patron.objects.exists()


def test_bootstrap_refuses_a_weak_password(fresh):
    with pytest.raises(CommandError, match=NEEDS_LETTERS_AND_NUMBERS):
        _bootstrap(password="shelvesonly")

    assert not Site.objects.exists()
