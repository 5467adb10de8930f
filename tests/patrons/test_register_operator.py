"""Registering an operator in one step: with a staff group, the registration form takes
the sign-in fields and the site access of the Access tab, with its rules and messages."""

import pytest
from django.urls import reverse

from patrons.forms.sign_in import CONFIRMATION_MISMATCH, USERNAME_TAKEN
from patrons.models import Patron
from security.models import Level, OperatorAction
from tests.factories import OperatorFactory, PatronFactory, group_at

pytestmark = pytest.mark.django_db

URL = reverse("patrons:register")
PASSWORD = "Shelving42books"


def data(site, **changes) -> dict:
    fields = {
        "first_name": "Grace",
        "last_name": "Hopper",
        "birth_date": "",
        "barcode": "20000999999042",
        "email": "grace@example.org",
        "home_site": site.pk,
        "security_group": group_at(Level.LIBRARY_STAFF).pk,
        "username": "ghopper",
        "password1": PASSWORD,
        "password2": PASSWORD,
        "action": "save",
    }
    return fields | changes


@pytest.mark.usefixtures("librarians_give_staff_groups")
def test_a_librarian_registers_library_staff_who_can_sign_in(client, librarian, ams, ams_branch):
    client.force_login(librarian)
    response = client.post(URL, data(ams, site_access=[ams_branch.pk], must_change_password="on"))
    assert response.status_code == 302
    staff = Patron.objects.get(username="ghopper")
    assert staff.security_group == group_at(Level.LIBRARY_STAFF)
    assert staff.check_password(PASSWORD)
    assert staff.must_change_password
    assert set(staff.site_access.values_list("code", flat=True)) == {"AMS", "AMSB"}
    client.logout()
    signed_in = client.post(reverse("login"), {"username": "ghopper", "password": PASSWORD})
    assert signed_in.status_code == 302
    assert OperatorAction.objects.filter(
        action=OperatorAction.Kind.PATRON_CREATED, patron=staff
    ).exists()


@pytest.mark.usefixtures("librarians_give_staff_groups")
def test_the_form_shows_the_sign_in_fields_and_grantable_sites(client, librarian, ams, jes):
    client.force_login(librarian)
    form = client.get(URL).context["form"]
    assert {"username", "password1", "password2", "site_access"} <= set(form.fields)
    offered = {value for value, _ in form.fields["site_access"].widget.choices}
    assert ams.pk in offered
    assert jes.pk not in offered
    assert group_at(Level.LIBRARY_STAFF).pk in form.staff_group_ids
    assert group_at(Level.PATRON).pk not in form.staff_group_ids


def test_a_taken_username_is_explained_and_nothing_saved(client, librarian, ams):
    PatronFactory(username="GHopper", home_site=ams)
    client.force_login(librarian)
    response = client.post(URL, data(ams))
    assert response.status_code == 422
    assert response.context["form"].errors["username"] == [USERNAME_TAKEN]
    assert not Patron.objects.filter(barcode="20000999999042").exists()


def test_the_password_rules_and_confirmation_apply(client, librarian, ams):
    client.force_login(librarian)
    mismatch = client.post(URL, data(ams, password2="Different42"))
    assert mismatch.status_code == 422
    assert mismatch.context["form"].errors["password2"] == [CONFIRMATION_MISMATCH]
    weak = client.post(URL, data(ams, password1="short", password2="short"))
    assert weak.status_code == 422
    assert weak.context["form"].errors["password1"]
    assert not Patron.objects.filter(barcode="20000999999042").exists()


def test_a_crafted_site_outside_scope_is_refused(client, librarian, ams, jes):
    client.force_login(librarian)
    response = client.post(URL, data(ams, site_access=[jes.pk]))
    assert response.status_code == 403
    assert not Patron.objects.filter(barcode="20000999999042").exists()


def test_a_crafted_group_at_the_operators_level_is_refused(client, librarian, ams):
    client.force_login(librarian)
    response = client.post(URL, data(ams, security_group=group_at(Level.LIBRARIAN).pk))
    assert response.status_code == 403
    assert not Patron.objects.filter(barcode="20000999999042").exists()


def test_staff_without_edit_access_still_register_patrons_only(client, staff, ams):
    client.force_login(staff)
    crafted = client.post(URL, data(ams))
    assert crafted.status_code == 403
    patron = client.post(
        URL, data(ams, security_group=group_at(Level.PATRON).pk, username="", password1="")
    )
    assert patron.status_code == 302
    assert Patron.objects.get(barcode="20000999999042").security_group.level == Level.PATRON


def test_a_registration_racing_for_a_username_gets_the_field_error(librarian, ams):
    """The unique constraint has the last word, as for barcodes (patron_create's insert)."""
    from django.core.exceptions import ValidationError

    from patrons import services

    OperatorFactory(username="taken", home_site=ams)
    with pytest.raises(ValidationError) as refused:
        services.patron_create(
            actor=librarian,
            home_site=ams,
            last_name="Racer",
            barcode="20000999999077",
            username="TAKEN",
        )
    assert refused.value.message_dict == {"username": [USERNAME_TAKEN]}
