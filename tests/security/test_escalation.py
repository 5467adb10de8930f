"""Escalation attempts through the services (which every view, command and import uses):
each is refused and changes nothing."""

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError

from patrons import services as patron_services
from patrons.models import Patron
from security import policy
from security import services as security_services
from security.models import Grant, Level, SecurityGroup
from tests.factories import OperatorFactory, PatronFactory, SecurityGroupFactory, group_at
from tests.security.helpers import update_group

pytestmark = pytest.mark.django_db


def reloaded(obj):
    return type(obj).objects.get(pk=obj.pk)


def perm(name):
    app_label, codename = name.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


# --- assigning groups ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "level", [Level.LIBRARIAN, Level.LIBRARY_ADMINISTRATOR, Level.DISTRICT_ADMINISTRATOR]
)
def test_librarian_cannot_assign_own_or_higher_level(librarian, patron, level):
    with pytest.raises(PermissionDenied):
        patron_services.patron_assign_group(actor=librarian, patron=patron, group=group_at(level))
    assert reloaded(patron).security_group.level == Level.PATRON


@pytest.mark.usefixtures("librarians_give_staff_groups")
def test_librarian_assigns_levels_below_own(librarian, patron):
    patron_services.patron_assign_group(
        actor=librarian, patron=patron, group=group_at(Level.LIBRARY_STAFF)
    )
    assert reloaded(patron).security_group.level == Level.LIBRARY_STAFF


def test_operator_cannot_change_own_group(library_admin, district_admin):
    for operator in (library_admin, district_admin):
        with pytest.raises(PermissionDenied, match=policy.OWN_GROUP):
            patron_services.patron_assign_group(
                actor=operator, patron=operator, group=group_at(Level.LIBRARY_STAFF)
            )
        assert reloaded(operator).security_group == operator.security_group


def test_cannot_touch_a_patron_at_own_level(librarian, ams):
    peer = OperatorFactory(level=Level.LIBRARIAN, home_site=ams)
    with pytest.raises(PermissionDenied):
        patron_services.patron_assign_group(
            actor=librarian, patron=peer, group=group_at(Level.PATRON)
        )
    assert reloaded(peer).security_group.level == Level.LIBRARIAN


def test_patron_out_of_scope_cannot_be_changed(librarian, jes):
    outsider = PatronFactory(home_site=jes)
    with pytest.raises(PermissionDenied):
        patron_services.patron_assign_group(
            actor=librarian, patron=outsider, group=group_at(Level.LIBRARY_AIDE)
        )
    assert reloaded(outsider).security_group.level == Level.PATRON


def test_only_district_administrator_makes_district_administrators(
    library_admin, district_admin, patron
):
    patron.email = "someone@example.org"
    patron.save()
    with pytest.raises(PermissionDenied):
        patron_services.patron_assign_group(
            actor=library_admin, patron=patron, group=group_at(Level.DISTRICT_ADMINISTRATOR)
        )
    patron_services.patron_assign_group(
        actor=district_admin, patron=patron, group=group_at(Level.DISTRICT_ADMINISTRATOR)
    )
    assert reloaded(patron).is_district_administrator


# --- the last District Administrator ------------------------------------------------------


def test_last_district_administrator_cannot_deactivate_or_delete_themselves(district_admin):
    with pytest.raises(ValidationError, match="last active District Administrator"):
        patron_services.patron_set_status(
            actor=district_admin, patron=district_admin, status=Patron.Status.INACTIVE
        )
    with pytest.raises(ValidationError, match="last active District Administrator"):
        patron_services.patron_delete(actor=district_admin, patron=district_admin)
    assert reloaded(district_admin).is_active


def test_a_district_administrator_can_be_demoted_while_another_remains(district_admin, district):
    second = OperatorFactory(level=Level.DISTRICT_ADMINISTRATOR, home_site=district)
    patron_services.patron_assign_group(
        actor=district_admin, patron=second, group=group_at(Level.LIBRARY_ADMINISTRATOR)
    )
    assert reloaded(second).security_group.level == Level.LIBRARY_ADMINISTRATOR
    # Now district_admin is the last one.
    with pytest.raises(ValidationError, match="last active District Administrator"):
        patron_services.patron_set_status(
            actor=district_admin, patron=district_admin, status=Patron.Status.SUSPENDED
        )


def test_inactive_district_administrators_do_not_count(district_admin, district):
    dormant = OperatorFactory(
        level=Level.DISTRICT_ADMINISTRATOR, home_site=district, status=Patron.Status.INACTIVE
    )
    with pytest.raises(ValidationError):
        patron_services.patron_delete(actor=district_admin, patron=district_admin)
    assert Patron.objects.filter(pk__in=[district_admin.pk, dormant.pk]).count() == 2


# --- security groups ----------------------------------------------------------------------


_update = update_group


@pytest.mark.parametrize("actor_name", ["library_admin", "district_admin"])
def test_district_administrator_group_cannot_be_edited_or_deleted(request, actor_name):
    actor = request.getfixturevalue(actor_name)
    protected = SecurityGroup.objects.get(is_protected=True)
    before = set(protected.permissions.all())
    with pytest.raises(PermissionDenied):
        _update(actor, protected, name="Renamed", permissions=[])
    with pytest.raises(PermissionDenied):
        security_services.group_delete(
            actor=actor, group=protected, move_members_to=group_at(Level.PATRON)
        )
    protected = reloaded(protected)
    assert protected.name == "District Administrator"
    assert set(protected.permissions.all()) == before


def school_group(site, level: int) -> SecurityGroup:
    """A group of the school, with the permissions of the default group of its level."""
    group = SecurityGroupFactory(level=level, owner_site=site)
    group.permissions.set(group_at(level).permissions.all())
    return group


def test_group_at_own_level_cannot_be_edited(library_admin):
    own_level = group_at(Level.LIBRARY_ADMINISTRATOR)
    with pytest.raises(PermissionDenied):
        _update(library_admin, own_level, description="changed")
    assert reloaded(own_level).description != "changed"


@pytest.mark.parametrize("new_level", [Level.LIBRARY_ADMINISTRATOR, Level.DISTRICT_ADMINISTRATOR])
def test_group_cannot_be_raised_to_or_above_own_level(library_admin, new_level, ams):
    staff_group = school_group(ams, Level.LIBRARY_STAFF)
    with pytest.raises(PermissionDenied, match=security_services.LEVEL_AT_OR_ABOVE_OWN):
        _update(library_admin, staff_group, level=new_level)
    assert reloaded(staff_group).level == Level.LIBRARY_STAFF


def test_group_below_own_level_can_be_edited(library_admin, ams):
    staff_group = school_group(ams, Level.LIBRARY_STAFF)
    _update(library_admin, staff_group, level=Level.LIBRARIAN, description="Senior staff")
    assert reloaded(staff_group).level == Level.LIBRARIAN


def test_cannot_give_a_group_a_permission_one_lacks(library_admin, ams):
    aide_group = school_group(ams, Level.LIBRARY_AIDE)
    not_held = perm("admin.change_logentry")
    with pytest.raises(PermissionDenied, match=security_services.PERMISSION_NOT_HELD):
        _update(library_admin, aide_group, permissions=[*aide_group.permissions.all(), not_held])
    assert not_held not in reloaded(aide_group).permissions.all()


def test_deleting_a_group_moves_its_members(library_admin, ams):
    group = security_services.group_create(
        actor=library_admin, name="Student Aide", level=Level.LIBRARY_AIDE, owner_site=ams
    )
    member = OperatorFactory(security_group=group, home_site=ams)
    with pytest.raises(ValidationError, match=security_services.GROUP_HAS_MEMBERS):
        security_services.group_delete(actor=library_admin, group=group, move_members_to=None)
    security_services.group_delete(
        actor=library_admin, group=group, move_members_to=group_at(Level.PATRON)
    )
    assert reloaded(member).security_group.level == Level.PATRON


# --- site access --------------------------------------------------------------------------


def test_cannot_grant_site_access_outside_own(librarian, jes, ams):
    target = PatronFactory(home_site=ams)
    with pytest.raises(PermissionDenied, match=patron_services.SITE_OUT_OF_SCOPE):
        patron_services.patron_set_site_access(actor=librarian, patron=target, sites=[ams, jes])
    assert list(reloaded(target).site_access.all()) == []


def test_sites_outside_own_access_are_kept_not_removed(librarian, jes, ams, ams_branch):
    target = PatronFactory(home_site=ams, site_access=[jes])
    patron_services.patron_set_site_access(actor=librarian, patron=target, sites=[ams_branch])
    assert set(reloaded(target).site_access.all()) == {jes, ams_branch}


# --- explicit grants (more in test_grants.py) ---------------------------------------------


def grantable(operator, name):
    """Let `operator`'s group pass the permission on."""
    operator.security_group.grantable_permissions.add(perm(name))
    policy.forget(operator)


def test_grant_only_a_permission_held_at_a_site_in_scope(library_admin, staff, jes, ams):
    grantable(library_admin, "patrons.edit_access")
    with pytest.raises(PermissionDenied):
        security_services.grant_create(
            actor=library_admin, operator=staff, permission=perm("patrons.edit_access"), site=jes
        )
    with pytest.raises(PermissionDenied):
        security_services.grant_create(
            actor=library_admin, operator=staff, permission=perm("admin.change_logentry"), site=ams
        )
    assert not Grant.objects.exists()
    security_services.grant_create(
        actor=library_admin, operator=staff, permission=perm("patrons.edit_access"), site=ams
    )
    assert staff.has_perm("patrons.edit_access", PatronFactory(home_site=ams))


def test_grant_only_to_operators_below_own_level(library_admin, ams):
    grantable(library_admin, "patrons.edit_access")
    peer = OperatorFactory(level=Level.LIBRARY_ADMINISTRATOR, home_site=ams)
    with pytest.raises(PermissionDenied):
        security_services.grant_create(
            actor=library_admin, operator=peer, permission=perm("patrons.edit_access"), site=ams
        )
    assert not Grant.objects.exists()


def test_revoked_grant_no_longer_applies(library_admin, staff, ams):
    target = PatronFactory(home_site=ams)
    grantable(library_admin, "patrons.edit_access")
    grant = security_services.grant_create(
        actor=library_admin, operator=staff, permission=perm("patrons.edit_access"), site=ams
    )
    security_services.grant_revoke(actor=library_admin, grant=grant)
    assert not reloaded(staff).has_perm("patrons.edit_access", target)
