"""The last District Administrator who can sign in stays able to (rule 3), and when nobody
can any more, `manage.py bootstrap --recover` lets one sign in again from the shell."""

import re

import pytest
from axes.models import AccessAttempt
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from patrons import services
from patrons.models import Patron
from patrons.services import LAST_DISTRICT_ADMIN, LAST_DISTRICT_ADMIN_USERNAME
from security.models import Level, OperatorAction
from security.services import NO_DISTRICT_ADMINISTRATOR_NAMED, USERNAME_IN_USE
from tests.factories import DEFAULT_PASSWORD, OperatorFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Recovered2026"


def access_url(patron) -> str:
    return reverse("patrons:tab", kwargs={"pk": patron.pk, "tab": "access"})


def access_data(client, patron, **changes) -> dict:
    form = client.get(access_url(patron)).context["form"]
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value in (None, False):
            continue
        if isinstance(value, list | tuple):
            value = [str(item) for item in value]
        data[name] = value
    return data | changes


def test_the_only_district_administrator_keeps_their_username(client, district_admin):
    client.force_login(district_admin)
    response = client.post(
        access_url(district_admin), access_data(client, district_admin, username="")
    )
    assert response.status_code == 422
    assert LAST_DISTRICT_ADMIN_USERNAME in response.context["form"].errors["username"]
    district_admin.refresh_from_db()
    assert district_admin.username == "district"


def test_with_another_who_signs_in_the_username_can_go(client, district_admin, district):
    OperatorFactory(level=Level.DISTRICT_ADMINISTRATOR, home_site=district)
    client.force_login(district_admin)
    response = client.post(
        access_url(district_admin), access_data(client, district_admin, username="")
    )
    assert response.status_code == 200
    district_admin.refresh_from_db()
    assert district_admin.username is None


def test_another_who_cannot_sign_in_does_not_count(client, district_admin, district):
    """A second District Administrator without a username, or with no usable password."""
    other = OperatorFactory(level=Level.DISTRICT_ADMINISTRATOR, home_site=district)
    Patron.objects.filter(pk=other.pk).update(username=None)
    unusable = OperatorFactory(level=Level.DISTRICT_ADMINISTRATOR, home_site=district)
    unusable.set_unusable_password()
    unusable.save()
    client.force_login(district_admin)
    response = client.post(
        access_url(district_admin), access_data(client, district_admin, username="")
    )
    assert response.status_code == 422
    district_admin.refresh_from_db()
    assert district_admin.username == "district"


def test_nor_is_the_last_who_signs_in_deactivated_for_one_who_cannot(district_admin, district):
    other = OperatorFactory(level=Level.DISTRICT_ADMINISTRATOR, home_site=district)
    Patron.objects.filter(pk=other.pk).update(username=None)
    with pytest.raises(ValidationError, match=re.escape(LAST_DISTRICT_ADMIN)):
        services.patron_set_status(
            actor=district_admin, patron=district_admin, status=Patron.Status.SUSPENDED
        )


# --- bootstrap --recover ------------------------------------------------------------------


def _locked_out(district_admin):
    Patron.objects.filter(pk=district_admin.pk).update(
        username=None, status=Patron.Status.SUSPENDED
    )
    AccessAttempt.objects.create(
        username="district",
        ip_address="127.0.0.1",
        failures_since_start=9,
        get_data="",
        post_data="",
        http_accept="",
        path_info="/accounts/login/",
        user_agent="",
    )


def test_recover_gives_back_a_username_and_a_password(client, district_admin):
    _locked_out(district_admin)
    call_command(
        "bootstrap",
        recover=True,
        username="district",
        email=district_admin.email,
        password=NEW_PASSWORD,
    )
    admin = Patron.objects.get(pk=district_admin.pk)
    assert admin.username == "district"
    assert admin.is_active
    assert not AccessAttempt.objects.filter(username="district").exists()
    response = client.post(reverse("login"), {"username": "district", "password": NEW_PASSWORD})
    assert response.status_code == 302
    entry = OperatorAction.objects.get(action=OperatorAction.Kind.PATRON_CHANGED, patron=admin)
    assert entry.operator is None
    assert entry.details["recovered_from_the_shell"] is True


def test_recover_by_username_resets_the_password_and_optionally_two_factor(district_admin):
    TOTPDevice.objects.create(user=district_admin, name="Authenticator app", confirmed=True)
    call_command("bootstrap", recover=True, username="DISTRICT", password=NEW_PASSWORD)
    admin = Patron.objects.get(pk=district_admin.pk)
    assert admin.check_password(NEW_PASSWORD)
    assert not admin.check_password(DEFAULT_PASSWORD)
    assert TOTPDevice.objects.filter(user=admin).exists()
    call_command(
        "bootstrap",
        recover=True,
        username="district",
        password=NEW_PASSWORD + "x",
        reset_two_factor=True,
    )
    assert not TOTPDevice.objects.filter(user=admin).exists()


def test_recover_is_only_for_district_administrators(librarian):
    refusal = NO_DISTRICT_ADMINISTRATOR_NAMED.format(username="librarian")
    with pytest.raises(CommandError, match=re.escape(refusal)):
        call_command("bootstrap", recover=True, username="librarian", password=NEW_PASSWORD)
    librarian.refresh_from_db()
    assert not librarian.check_password(NEW_PASSWORD)


def test_recover_never_takes_another_accounts_username(district_admin, librarian):
    Patron.objects.filter(pk=district_admin.pk).update(username=None)
    with pytest.raises(CommandError, match=re.escape(USERNAME_IN_USE.format(username="librarian"))):
        call_command(
            "bootstrap",
            recover=True,
            username="librarian",
            email=district_admin.email,
            password=NEW_PASSWORD,
        )


def test_recover_checks_the_password_rules(district_admin):
    with pytest.raises(CommandError):
        call_command("bootstrap", recover=True, username="district", password="short")
    district_admin.refresh_from_db()
    assert district_admin.check_password(DEFAULT_PASSWORD)
