"""Evergreen's group application permissions: a staff group (below level 5) is given only
by holders of security.assign_securitygroup (default: Library Administrators; District
Administrators hold everything) or by those to whom that one group was delegated. Patron
groups are given by anyone who edits the Access tab. Levels and scope still apply."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from patrons.models import Patron
from security import policy
from security.models import Level, SecurityGroup
from tests.factories import PatronFactory, SecurityGroupFactory, group_at
from tests.tab_posts import access_data

pytestmark = pytest.mark.django_db


def access_url(patron):
    return reverse("patrons:tab", kwargs={"pk": patron.pk, "tab": "access"})


def offered(client, patron) -> set[str]:
    field = client.get(access_url(patron)).context["form"].fields["security_group"]
    return {label for _, label in field.widget.choices}


def test_a_default_librarian_gives_patron_groups_only(client, librarian, patron, ams):
    SecurityGroupFactory(name="AMS Readers", level=Level.PATRON, owner_site=ams)
    client.force_login(librarian)
    choices = offered(client, patron)
    assert {"Patron (5)", "AMS Readers (5)"} <= choices
    assert not any(f"({level})" in label for label in choices for level in range(5))


def test_a_crafted_staff_group_from_a_default_librarian_changes_nothing(client, librarian, patron):
    client.force_login(librarian)
    aide = group_at(Level.LIBRARY_AIDE)
    response = client.post(access_url(patron), access_data(patron, security_group=aide.pk))
    assert response.status_code in (403, 422)
    assert Patron.objects.get(pk=patron.pk).security_group.level == Level.PATRON


def test_the_permission_in_a_group_gives_every_staff_group_below_ones_level(
    client, librarian, patron
):
    group_at(Level.LIBRARIAN).permissions.add(
        Permission.objects.get(codename="assign_securitygroup")
    )
    client.force_login(librarian)
    choices = offered(client, patron)
    assert {"Library Staff (3)", "Library Aide (4)"} <= choices
    assert "Librarian (2)" not in choices and "Library Administrator (1)" not in choices
    aide = group_at(Level.LIBRARY_AIDE)
    response = client.post(access_url(patron), access_data(patron, security_group=aide.pk))
    assert response.status_code == 200
    assert Patron.objects.get(pk=patron.pk).security_group == aide


def test_a_default_library_administrator_gives_staff_groups_below_their_level(
    client, library_admin, patron
):
    client.force_login(library_admin)
    choices = offered(client, patron)
    assert {"Librarian (2)", "Library Staff (3)", "Library Aide (4)"} <= choices
    assert "Library Administrator (1)" not in choices


@pytest.mark.parametrize("role", ["district_admin", "library_admin", "librarian", "staff", "aide"])
def test_what_may_be_given_in_sql_is_what_may_be_given(roles, role, ams):
    SecurityGroupFactory(name="AMS Aides", level=Level.LIBRARY_AIDE, owner_site=ams)
    SecurityGroupFactory(name="AMS Readers", level=Level.PATRON, owner_site=ams)
    operator = roles[role]
    target = PatronFactory(home_site=ams)
    in_sql = set(
        policy.scope(operator, policy.ASSIGN_GROUP, SecurityGroup).values_list("pk", flat=True)
    )
    asked = {
        g.pk for g in SecurityGroup.objects.all() if policy.can(operator, policy.ASSIGN_GROUP, g)
    }
    assert in_sql == asked
    given = {
        g.pk for g in SecurityGroup.objects.all() if policy.can_assign_group(operator, target, g)
    }
    assert given <= asked
