"""Explicit grants do not outlive a change of level: every path that changes an operator's
level or group (a group's level, a group deleted with its members moved, a patron's group
on the Access tab or through the service) reviews their grants, as the Access tab does."""

import pytest
from django.contrib.auth.models import Permission

from patrons import services as patron_services
from security import services as security_services
from security.models import Grant, Level, OperatorAction
from tests.factories import OperatorFactory, SecurityGroupFactory, group_at
from tests.security.helpers import update_group

pytestmark = pytest.mark.django_db


def perm(codename: str) -> Permission:
    return Permission.objects.get(codename=codename)


@pytest.fixture
def school_aides(ams):
    group = SecurityGroupFactory(name="AMS Aides", level=Level.LIBRARY_AIDE, owner_site=ams)
    group.permissions.add(perm("view_patron"))
    return group


@pytest.fixture
def granted_aide(ams, school_aides, library_admin):
    aide = OperatorFactory(security_group=school_aides, home_site=ams)
    Grant.objects.create(
        operator=aide, permission=perm("edit_notes"), site=ams, granted_by=library_admin
    )
    return aide


def revoked_lines(operator):
    return OperatorAction.objects.filter(action=OperatorAction.Kind.GRANT_REVOKED, patron=operator)


def test_deleting_a_group_and_moving_its_members_to_patron_revokes_their_grants(
    library_admin, school_aides, granted_aide
):
    """The review's case: a former aide kept a grant."""
    security_services.group_delete(
        actor=library_admin, group=school_aides, move_members_to=group_at(Level.PATRON)
    )
    assert not Grant.objects.filter(operator=granted_aide).exists()
    assert revoked_lines(granted_aide).get().details["reason"] == security_services.GROUP_CHANGED


def test_moving_members_to_another_staff_group_reviews_their_grants_too(
    library_admin, school_aides, granted_aide
):
    security_services.group_delete(
        actor=library_admin, group=school_aides, move_members_to=group_at(Level.LIBRARY_STAFF)
    )
    assert not Grant.objects.filter(operator=granted_aide).exists()


def test_a_change_of_the_groups_level_revokes_its_members_grants(
    library_admin, school_aides, granted_aide
):
    update_group(
        library_admin, school_aides, level=Level.LIBRARY_STAFF, permissions=[perm("view_patron")]
    )
    assert not Grant.objects.filter(operator=granted_aide).exists()
    assert revoked_lines(granted_aide).count() == 1


def test_other_changes_of_the_group_keep_the_grants(library_admin, school_aides, granted_aide):
    security_services.group_update(
        actor=library_admin,
        group=school_aides,
        name="AMS Desk Aides",
        level=school_aides.level,
        description="Front desk",
        permissions=[perm("view_patron"), perm("edit_notes")],
    )
    assert Grant.objects.filter(operator=granted_aide).count() == 1


def test_deleting_an_empty_group_touches_no_grant(library_admin, ams, school_aides, granted_aide):
    empty = SecurityGroupFactory(name="Empty", level=Level.LIBRARY_AIDE, owner_site=ams)
    security_services.group_delete(actor=library_admin, group=empty, move_members_to=None)
    assert Grant.objects.filter(operator=granted_aide).count() == 1


def test_a_patrons_new_group_through_the_service_revokes_their_grants(library_admin, granted_aide):
    patron_services.patron_assign_group(
        actor=library_admin, patron=granted_aide, group=group_at(Level.PATRON)
    )
    assert not Grant.objects.filter(operator=granted_aide).exists()
