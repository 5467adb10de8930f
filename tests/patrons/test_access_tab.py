"""The Access tab: groups and sites offered by the policy, one atomic version-checked save,
username, password and PIN rules, rule 6, crafted requests refused, bounded queries."""

import pytest
from django.contrib.auth.hashers import check_password
from django.contrib.auth.models import Permission
from django.urls import reverse

from patrons import services
from patrons.forms.access import CONFIRMATION_MISMATCH, USERNAME_TAKEN
from patrons.models import Patron, email_required_message
from security import services as security_services
from security.models import Grant, Level
from security.passwords import NEEDS_LETTERS_AND_NUMBERS
from tests.factories import (
    OperatorFactory,
    PatronFactory,
    SecurityGroupFactory,
    SiteFactory,
    group_at,
)
from tests.tab_posts import access_data

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Shelving42books"


def url(patron):
    return reverse("patrons:tab", kwargs={"pk": patron.pk, "tab": "access"})


def fresh(patron) -> Patron:
    return Patron.objects.select_related("security_group").get(pk=patron.pk)


def group_choices(response) -> list[str]:
    return [label for _, label in response.context["form"].fields["security_group"].widget.choices]


@pytest.mark.usefixtures("librarians_give_staff_groups")
def test_a_librarian_is_offered_only_groups_below_their_level(client, librarian, patron):
    client.force_login(librarian)
    response = client.get(url(patron))
    assert response.status_code == 200
    assert group_choices(response) == ["Library Staff (3)", "Library Aide (4)", "Patron (5)"]
    page = response.content.decode()
    assert "Librarian (2)" not in page and "District Administrator (0)" not in page


@pytest.mark.usefixtures("librarians_give_staff_groups")
def test_giving_a_group_and_a_site(client, librarian, patron, ams, ams_branch):
    client.force_login(librarian)
    staff_group = group_at(Level.LIBRARY_STAFF)
    response = client.post(
        url(patron), access_data(patron, security_group=staff_group.pk, site_access=[ams_branch.pk])
    )
    assert response.status_code == 200
    assert "Access saved." in response.content.decode()
    saved = fresh(patron)
    assert saved.security_group == staff_group
    # Rule 6: Library Aide and above always have their home site.
    assert set(saved.site_access.all()) == {ams, ams_branch}
    assert (saved.version, saved.updated_by) == (patron.version + 1, librarian)


def test_email_is_required_for_librarian_and_above(client, library_admin, ams):
    no_email = PatronFactory(home_site=ams, email="")
    client.force_login(library_admin)
    data = access_data(
        no_email, security_group=group_at(Level.LIBRARIAN).pk, username="renamed-in-vain"
    )
    response = client.post(url(no_email), data)
    assert response.status_code == 422
    assert response.context["form"].errors["security_group"] == [email_required_message()]
    saved = fresh(no_email)
    assert (saved.security_group.level, saved.username) == (Level.PATRON, no_email.username)


def test_crafted_group_the_operator_may_not_assign_is_403(client, librarian, patron):
    client.force_login(librarian)
    response = client.post(url(patron), access_data(patron, security_group=group_at(2).pk))
    assert response.status_code == 403
    assert fresh(patron).security_group.level == Level.PATRON


def test_crafted_site_outside_scope_is_403_and_nothing_is_saved(client, librarian, patron, jes):
    client.force_login(librarian)
    response = client.post(
        url(patron), access_data(patron, username="changed", site_access=[jes.pk])
    )
    assert response.status_code == 403
    saved = fresh(patron)
    assert (saved.username, list(saved.site_access.all())) == ("patron", [])


def test_a_patron_at_or_above_ones_level_is_read_only(client, librarian, library_admin):
    colleague = OperatorFactory(level=Level.LIBRARIAN, home_site=librarian.home_site)
    client.force_login(librarian)
    for other in (colleague, library_admin):
        response = client.get(url(other))
        assert response.context["form"].fields["username"].disabled
        crafted = client.post(url(other), access_data(other, username="taken-over"))
        assert crafted.status_code == 403
        assert fresh(other).username != "taken-over"


def test_staff_see_the_tab_read_only(client, staff, patron):
    client.force_login(staff)
    response = client.get(url(patron))
    assert response.status_code == 200
    assert all(field.disabled for field in response.context["form"].fields.values())
    assert client.post(url(patron), access_data(patron, username="x")).status_code == 403


def test_out_of_scope_is_404(client, operator_at_other_site, patron):
    client.force_login(operator_at_other_site)
    assert client.get(url(patron)).status_code == 404
    assert client.post(url(patron), access_data(patron)).status_code == 404


def test_nobody_changes_their_own_group(client, district_admin, district):
    OperatorFactory(level=Level.DISTRICT_ADMINISTRATOR, home_site=district)
    client.force_login(district_admin)
    response = client.get(url(district_admin))
    assert response.context["form"].fields["security_group"].disabled
    assert "cannot change your own security group" in response.content.decode()
    client.post(url(district_admin), access_data(district_admin, security_group=group_at(3).pk))
    assert fresh(district_admin).security_group.level == Level.DISTRICT_ADMINISTRATOR


def test_a_district_administrator_may_demote_another(client, district):
    first = OperatorFactory(level=Level.DISTRICT_ADMINISTRATOR, home_site=district)
    other = OperatorFactory(level=Level.DISTRICT_ADMINISTRATOR, home_site=district)
    client.force_login(first)
    client.post(url(other), access_data(other, security_group=group_at(1).pk))
    assert fresh(other).security_group.level == Level.LIBRARY_ADMINISTRATOR
    client.force_login(other)  # now a Library Administrator: `first` is out of reach
    crafted = client.post(url(first), access_data(first, security_group=group_at(1).pk))
    assert crafted.status_code == 403
    assert fresh(first).security_group.level == Level.DISTRICT_ADMINISTRATOR


def test_username_is_unique_ignoring_case(client, librarian, patron, staff):
    client.force_login(librarian)
    response = client.post(url(patron), access_data(patron, username="STAFF"))
    assert response.status_code == 422
    assert response.context["form"].errors["username"] == [USERNAME_TAKEN]
    emptied = client.post(url(patron), access_data(patron, username=""))
    assert emptied.status_code == 200
    assert fresh(patron).username is None


def test_password_and_forced_change(client, librarian, patron):
    client.force_login(librarian)
    data = access_data(
        patron, password1=NEW_PASSWORD, password2=NEW_PASSWORD, must_change_password="on"
    )
    assert client.post(url(patron), data).status_code == 200
    saved = fresh(patron)
    assert saved.check_password(NEW_PASSWORD) and saved.must_change_password


@pytest.mark.parametrize(
    ("first", "second", "field", "message"),
    [
        (NEW_PASSWORD, "Different42", "password2", CONFIRMATION_MISMATCH),
        ("onlyletters", "onlyletters", "password1", NEEDS_LETTERS_AND_NUMBERS),
    ],
)
def test_password_errors_are_next_to_the_field(
    client, librarian, patron, first, second, field, message
):
    client.force_login(librarian)
    response = client.post(url(patron), access_data(patron, password1=first, password2=second))
    assert response.status_code == 422
    assert message in response.context["form"].errors[field]
    assert fresh(patron).check_password("Library2024")


def test_the_pin_is_four_digits_stored_hashed_and_never_shown(client, librarian, patron):
    client.force_login(librarian)
    bad = client.post(url(patron), access_data(patron, pin="12a4"))
    assert bad.status_code == 422
    assert bad.context["form"].errors["pin"] == [services.PIN_FORMAT]
    assert "not set" in bad.content.decode()
    client.post(url(patron), access_data(patron, pin="4821"))
    saved = fresh(patron)
    assert saved.pin != "4821" and check_password("4821", saved.pin)
    page = client.get(url(patron)).content.decode()
    assert ">set<" in page and "4821" not in page
    client.post(url(patron), access_data(saved, clear_pin="on"))
    assert fresh(patron).pin == ""


def test_sites_outside_the_operators_reach_are_listed_and_kept(client, librarian, patron, ams, jes):
    patron.site_access.set([ams, jes])
    client.force_login(librarian)
    response = client.get(url(patron))
    assert response.context["sites_out_of_reach"] == [jes]
    offered = [label for _, label in response.context["form"].fields["site_access"].widget.choices]
    assert str(jes) not in offered and str(ams) in offered
    client.post(url(patron), access_data(patron, site_access=[]))
    assert list(fresh(patron).site_access.all()) == [jes]


def test_select_all_and_generate_are_there_for_javascript(client, librarian, patron):
    client.force_login(librarian)
    page = client.get(url(patron)).content.decode()
    assert "data-check-all" in page and "data-generate-password" in page


def test_explicit_grants_are_listed(client, library_admin, ams):
    grantee = OperatorFactory(level=Level.LIBRARY_STAFF, home_site=ams)
    permission = Permission.objects.get(codename="edit_access")
    library_admin.security_group.grantable_permissions.add(permission)
    security_services.grant_create(
        actor=library_admin, operator=grantee, permission=permission, site=ams
    )
    client.force_login(library_admin)
    page = client.get(url(grantee)).content.decode()
    assert permission.name in page and str(ams) in page


def test_a_stale_save_refuses_the_whole_tab(client, librarian, library_admin, patron):
    loaded = patron.version
    services.patron_update(
        actor=library_admin,
        patron=patron,
        action="patrons.edit_personal",
        version=loaded,
        first_name="Changed",
    )
    client.force_login(librarian)
    data = access_data(patron, version=loaded, username="mine", security_group=group_at(3).pk)
    response = client.post(url(patron), data)
    assert response.status_code == 422
    assert "while you were editing" in response.content.decode()
    saved = fresh(patron)
    assert (saved.username, saved.security_group.level) == ("patron", Level.PATRON)


def test_the_tab_runs_the_same_queries_with_3_or_30_sites_and_groups(
    client, district_admin, ams, django_assert_max_num_queries
):
    operator = OperatorFactory(level=Level.LIBRARY_STAFF, home_site=ams)
    client.force_login(district_admin)
    _add_sites_groups_and_grants(operator, ams, 3)
    with django_assert_max_num_queries(17) as few:  # 16, and the delegations the patron holds
        client.get(url(operator))
    _add_sites_groups_and_grants(operator, ams, 27)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(url(operator))
    assert len(group_choices(response)) >= 30
    assert len(response.context["grants"]) == 30


def _add_sites_groups_and_grants(operator, parent, count):
    permission = Permission.objects.get(codename="edit_notes")
    for _ in range(count):
        site = SiteFactory(parent=parent)
        operator.site_access.add(site)
        SecurityGroupFactory(level=Level.LIBRARY_AIDE)
        Grant.objects.create(operator=operator, permission=permission, site=site)


def test_a_district_administrator_changing_their_own_password_stays_signed_in(
    client, district_admin
):
    client.force_login(district_admin)
    data = access_data(district_admin, password1=NEW_PASSWORD, password2=NEW_PASSWORD)
    assert client.post(url(district_admin), data).status_code == 200
    assert client.get(url(district_admin)).status_code == 200
    assert fresh(district_admin).check_password(NEW_PASSWORD)
