"""The Django admin is for District Administrators only, and asks the policy about each
object: the protected District Administrator group stays read-only there too."""

import pytest
from django.urls import reverse

from patrons.models import Patron, email_required_message
from security.models import Level, SecurityGroup
from sites.models import Site

pytestmark = pytest.mark.django_db


def _protected_group():
    return SecurityGroup.objects.get(is_protected=True)


def _form_data(response) -> dict:
    """What the admin change form would post back unchanged."""
    form = response.context["adminform"].form
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is None:
            value = ""
        elif isinstance(value, bool):
            value = "on" if value else ""
        data[name] = value
    return {key: value for key, value in data.items() if value != ""}


def test_district_admin_reaches_the_admin(client, district_admin):
    client.force_login(district_admin)
    assert client.get(reverse("admin:index")).status_code == 200


@pytest.mark.parametrize("role", ["library_admin", "librarian", "patron"])
def test_everyone_else_is_sent_to_the_admin_login(client, roles, role):
    client.force_login(roles[role])
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:sites_site_changelist",
        "admin:security_securitygroup_changelist",
        "admin:patrons_patron_changelist",
        "admin:patrons_patron_add",
    ],
)
def test_admin_pages_open_for_a_district_admin(client, roles, url_name):
    client.force_login(roles["district_admin"])
    assert (
        client.get(reverse(url_name), {"q": "a"} if "changelist" in url_name else {}).status_code
        == 200
    )


def test_the_protected_group_is_shown_read_only(client, district_admin):
    client.force_login(district_admin)
    response = client.get(
        reverse("admin:security_securitygroup_change", args=[_protected_group().pk])
    )
    assert response.status_code == 200
    assert not response.context["has_change_permission"]
    assert not response.context["has_delete_permission"]


def test_the_protected_group_cannot_be_changed_through_the_admin(client, district_admin):
    group = _protected_group()
    client.force_login(district_admin)
    url = reverse("admin:security_securitygroup_change", args=[group.pk])
    response = client.post(
        url, {"name": "Renamed", "level": Level.LIBRARIAN, "description": "", "permissions": []}
    )
    assert response.status_code == 403
    group.refresh_from_db()
    assert (group.name, group.level) == ("District Administrator", 0)
    assert group.permissions.exists()


def test_the_protected_group_cannot_be_deleted_through_the_admin(client, district_admin):
    group = _protected_group()
    client.force_login(district_admin)
    response = client.post(
        reverse("admin:security_securitygroup_delete", args=[group.pk]), {"post": "yes"}
    )
    assert response.status_code == 403
    assert SecurityGroup.objects.filter(pk=group.pk).exists()


def test_other_groups_can_be_changed_and_the_change_is_recorded(client, district_admin):
    group = SecurityGroup.objects.get(name="Library Aide")
    client.force_login(district_admin)
    url = reverse("admin:security_securitygroup_change", args=[group.pk])
    data = _form_data(client.get(url))
    data["description"] = "Shelves and circulation desk."
    assert client.post(url, data).status_code == 302
    group.refresh_from_db()
    assert (group.description, group.updated_by) == (
        "Shelves and circulation desk.",
        district_admin,
    )


def test_patron_records_are_read_only_in_the_admin(client, district_admin, patron):
    """Patrons are changed on the staff pages, through the services, not here."""
    client.force_login(district_admin)
    url = reverse("admin:patrons_patron_change", args=[patron.pk])
    response = client.get(url)
    assert response.status_code == 200
    assert not response.context["has_change_permission"]
    assert client.post(url, {"last_name": "Changed"}).status_code == 403
    patron.refresh_from_db()
    assert patron.last_name != "Changed"


def test_a_district_admin_adds_an_operator_with_a_first_password(client, district_admin, ams):
    client.force_login(district_admin)
    staff_group = SecurityGroup.objects.get(name="Library Staff")
    response = client.post(
        reverse("admin:patrons_patron_add"),
        {
            "first_name": "Nia",
            "last_name": "Okafor",
            "email": "nia@example.org",
            "home_site": ams.pk,
            "username": "nokafor",
            "security_group": staff_group.pk,
            "must_change_password": "on",
            "password1": "Shelves2024",
            "password2": "Shelves2024",
        },
    )
    assert response.status_code == 302
    nia = Patron.objects.get(username="nokafor")
    assert nia.check_password("Shelves2024")
    assert list(nia.site_access.all()) == [ams]  # rule 6
    assert nia.created_by == district_admin


def test_the_admin_add_form_goes_through_the_policy(client, district_admin, ams):
    """A District Administrator may not create an operator with an invalid group either:
    the email rule applies (Librarian and above)."""
    client.force_login(district_admin)
    response = client.post(
        reverse("admin:patrons_patron_add"),
        {
            "last_name": "Noemail",
            "home_site": ams.pk,
            "username": "noemail",
            "security_group": SecurityGroup.objects.get(name="Librarian").pk,
            "password1": "Shelves2024",
            "password2": "Shelves2024",
        },
    )
    assert response.status_code == 200
    assert email_required_message() in response.content.decode()
    assert not Patron.objects.filter(username="noemail").exists()


def test_patrons_cannot_be_deleted_through_the_admin(client, district_admin, patron):
    client.force_login(district_admin)
    response = client.post(
        reverse("admin:patrons_patron_delete", args=[patron.pk]), {"post": "yes"}
    )
    assert response.status_code == 403
    assert Patron.objects.filter(pk=patron.pk).exists()


def test_sites_edited_in_the_admin_keep_the_cycle_rule(client, district_admin, ams, ams_branch):
    client.force_login(district_admin)
    url = reverse("admin:sites_site_change", args=[ams.pk])
    data = _form_data(client.get(url))
    data["parent"] = ams_branch.pk
    response = client.post(url, data)
    assert response.status_code == 200
    assert Site.objects.get(pk=ams.pk).parent.code == "DIST"
