"""The policy, table-driven: operator level x target level x action, both sides of each rule.

Expectations come from ARCHITECTURE.md: the default permission matrix (who holds what) and
the level rule (changes only strictly below one's own level, District Administrators excepted).
"""

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.http import Http404

from patrons.models import Patron
from security import policy
from security.models import Grant, Level, SecurityGroup
from tests.factories import OperatorFactory, PatronFactory, SecurityGroupFactory, group_at

pytestmark = pytest.mark.django_db

LEVELS = list(Level)
OPERATOR_LEVELS = [level for level in Level if level != Level.PATRON]

# The default matrix of ARCHITECTURE.md, by area.
HELD_BY_DEFAULT = {
    "patrons.view_patron": {0, 1, 2, 3, 4},
    "patrons.add_patron": {0, 1, 2, 3, 4},
    "patrons.edit_personal": {0, 1, 2, 3},
    "patrons.edit_contact": {0, 1, 2, 3},
    "patrons.edit_notes": {0, 1, 2, 3},
    "patrons.edit_blocks": {0, 1, 2, 3},
    "patrons.edit_access": {0, 1, 2},
    "patrons.delete_patron": {0, 1, 2},
    "patrons.merge_patron": {0, 1, 2},
    "patrons.import_patrons": {0, 1, 2},
    "patrons.export_patrons": {0, 1, 2},
    "security.change_securitygroup": {0, 1},
    "security.grant_permission": {0, 1},
    "security.manage_preferences": {0, 1, 2},
    "sites.change_site": {0, 1},
    "security.view_operator_log": {0, 1},
}
PATRON_CHANGES = [
    a for a in HELD_BY_DEFAULT if a.startswith("patrons.") and a != "patrons.view_patron"
]


def operator_at(level, site, **kwargs):
    return OperatorFactory(level=level, home_site=site, **kwargs)


@pytest.mark.parametrize("action", sorted(HELD_BY_DEFAULT))
@pytest.mark.parametrize("level", LEVELS)
def test_default_matrix_without_object(action, level, ams):
    operator = operator_at(level, ams)
    assert policy.can(operator, action) is (level in HELD_BY_DEFAULT[action])


@pytest.mark.parametrize("target_level", LEVELS)
@pytest.mark.parametrize("operator_level", LEVELS)
def test_patron_changes_only_strictly_below_own_level(operator_level, target_level, ams):
    operator = operator_at(operator_level, ams)
    target = PatronFactory(security_group=group_at(target_level), home_site=ams)
    below = target_level > operator_level or operator_level == Level.DISTRICT_ADMINISTRATOR
    for action in PATRON_CHANGES:
        expected = operator_level in HELD_BY_DEFAULT[action] and below
        assert policy.can(operator, action, target) is expected, action
    # Viewing has no level rule: staff see every patron of their sites.
    assert policy.can(operator, "patrons.view_patron", target) is (operator_level <= 4)


@pytest.mark.parametrize("operator_level", OPERATOR_LEVELS)
def test_patron_outside_site_scope_is_neither_visible_nor_editable(operator_level, ams, jes):
    operator = operator_at(operator_level, ams)
    outsider = PatronFactory(home_site=jes)
    allowed = operator_level == Level.DISTRICT_ADMINISTRATOR
    assert policy.can(operator, "patrons.view_patron", outsider) is allowed
    assert policy.can(operator, "patrons.edit_personal", outsider) is allowed
    if not allowed:
        with pytest.raises(Http404):
            policy.get_or_404(operator, "patrons.view_patron", Patron, pk=outsider.pk)


def test_site_access_covers_descendant_sites_not_parents_or_siblings(
    librarian, ams_branch, district, jes
):
    in_branch = PatronFactory(home_site=ams_branch)
    at_district = PatronFactory(home_site=district)
    at_sibling = PatronFactory(home_site=jes)
    assert policy.can(librarian, "patrons.edit_personal", in_branch)
    assert not policy.can(librarian, "patrons.view_patron", at_district)
    assert not policy.can(librarian, "patrons.view_patron", at_sibling)


def test_visible_but_not_editable_is_403_not_404(librarian, library_admin):
    found = policy.get_or_404(librarian, "patrons.view_patron", Patron, pk=library_admin.pk)
    assert found == library_admin
    with pytest.raises(PermissionDenied):
        policy.get_or_404(librarian, "patrons.edit_personal", Patron, pk=library_admin.pk)


def test_operators_do_not_edit_their_own_record_except_district_administrators(
    librarian, district_admin
):
    assert not policy.can(librarian, "patrons.edit_personal", librarian)
    assert policy.can(district_admin, "patrons.edit_personal", district_admin)


# --- rule 1: level 5 has no staff side ----------------------------------------------------


def test_patron_level_has_no_staff_side_even_with_every_permission(patron):
    patron_group = patron.security_group
    patron_group.permissions.set(Permission.objects.all())
    policy.forget(patron)
    other = PatronFactory(home_site=patron.home_site)
    assert not policy.can(patron, "patrons.view_patron")
    assert not policy.can(patron, "patrons.view_patron", other)
    assert not patron.has_perm("patrons.edit_personal", other)
    assert policy.scope(patron, "patrons.view_patron", Patron).count() == 0


def test_inactive_operator_can_do_nothing(librarian, patron):
    librarian.status = Patron.Status.SUSPENDED
    librarian.save()
    librarian.refresh_from_db()
    assert not policy.can(librarian, "patrons.view_patron", patron)
    assert not policy.scope(librarian, "patrons.view_patron", Patron).exists()


def test_anonymous_can_do_nothing(anonymous, patron):
    assert not policy.can(anonymous, "patrons.view_patron", patron)
    assert not anonymous.has_perm("patrons.view_patron")
    assert not policy.scope(anonymous, "patrons.view_patron", Patron).exists()


# --- rules 2 and 3: security groups -------------------------------------------------------


@pytest.mark.parametrize("group_level", LEVELS)
@pytest.mark.parametrize("operator_level", OPERATOR_LEVELS)
def test_groups_change_only_below_own_level(operator_level, group_level, ams):
    operator = operator_at(operator_level, ams)
    group = SecurityGroupFactory(level=group_level, owner_site=ams)
    holds = operator_level <= Level.LIBRARY_ADMINISTRATOR
    below = group_level > operator_level or operator_level == Level.DISTRICT_ADMINISTRATOR
    for action in ("security.change_securitygroup", "security.delete_securitygroup"):
        assert policy.can(operator, action, group) is (holds and below), action


@pytest.mark.parametrize("operator_level", OPERATOR_LEVELS)
def test_district_administrator_group_is_never_changed_or_deleted(operator_level, ams):
    operator = operator_at(operator_level, ams)
    protected = SecurityGroup.objects.get(is_protected=True)
    assert not policy.can(operator, "security.change_securitygroup", protected)
    assert not policy.can(operator, "security.delete_securitygroup", protected)


def test_alexandria_example_librarian_given_group_permission(librarian, ams):
    """A Librarian (2) holding the security-groups permission changes Library Staff, Library
    Aide and Patron groups (of their school), never Librarian, Library Administrator or
    District Administrator."""
    librarian.security_group.permissions.add(
        Permission.objects.get(codename="change_securitygroup")
    )
    policy.forget(librarian)
    for level in LEVELS:
        group = SecurityGroupFactory(level=level, owner_site=ams)
        expected = level > Level.LIBRARIAN
        assert policy.can(librarian, "security.change_securitygroup", group) is expected, level


# --- rule 4: assigning groups -------------------------------------------------------------


@pytest.mark.parametrize("new_level", LEVELS)
@pytest.mark.parametrize("operator_level", OPERATOR_LEVELS)
@pytest.mark.usefixtures("librarians_give_staff_groups")
def test_assign_group_only_below_own_level(operator_level, new_level, ams):
    operator = operator_at(operator_level, ams)
    target = PatronFactory(home_site=ams)
    holds = operator_level <= Level.LIBRARIAN
    below = new_level > operator_level or operator_level == Level.DISTRICT_ADMINISTRATOR
    assert policy.can_assign_group(operator, target, group_at(new_level)) is (holds and below)


def test_only_a_district_administrator_makes_a_district_administrator(
    library_admin, district_admin, patron
):
    da_group = group_at(Level.DISTRICT_ADMINISTRATOR)
    assert not policy.can_assign_group(library_admin, patron, da_group)
    assert policy.can_assign_group(district_admin, patron, da_group)


def test_nobody_assigns_their_own_group(district_admin, library_admin):
    for operator in (district_admin, library_admin):
        with pytest.raises(PermissionDenied, match=policy.OWN_GROUP):
            policy.require_assign_group(operator, operator, group_at(Level.PATRON))


def test_assigning_to_a_patron_at_or_above_own_level_is_refused(librarian, ams):
    peer = operator_at(Level.LIBRARIAN, ams)
    assert not policy.can_assign_group(librarian, peer, group_at(Level.PATRON))


# --- rule 5: site scope when granting site access ------------------------------------------


def test_site_access_grantable_only_within_own_scope(librarian, ams, ams_branch, jes, district):
    assert policy.can(librarian, policy.GRANT_SITE_ACCESS, ams)
    assert policy.can(librarian, policy.GRANT_SITE_ACCESS, ams_branch)
    assert not policy.can(librarian, policy.GRANT_SITE_ACCESS, jes)
    assert not policy.can(librarian, policy.GRANT_SITE_ACCESS, district)


def test_district_administrator_scope_is_every_site(district_admin, jes):
    assert policy.can(district_admin, "patrons.edit_personal", PatronFactory(home_site=jes))
    assert policy.site_scope_ids(district_admin) is None


# --- rule 7: explicit grants --------------------------------------------------------------


def _grant(operator, perm, site):
    app_label, codename = perm.split(".")
    permission = Permission.objects.get(content_type__app_label=app_label, codename=codename)
    Grant.objects.create(operator=operator, permission=permission, site=site)
    policy.forget(operator)


def test_explicit_grant_gives_one_permission_at_one_site_and_below(staff, jes, district, ams):
    jes_patron = PatronFactory(home_site=jes)
    ams_patron = PatronFactory(home_site=ams)
    assert not policy.can(staff, "patrons.edit_access", jes_patron)
    _grant(staff, "patrons.edit_access", jes)
    assert policy.can(staff, "patrons.edit_access", jes_patron)
    # Only that permission, only at that site.
    assert not policy.can(staff, "patrons.delete_patron", jes_patron)
    assert not policy.can(staff, "patrons.edit_access", ams_patron)


def test_explicit_grant_does_not_lift_the_level_rule(staff, jes):
    _grant(staff, "patrons.edit_access", jes)
    higher = operator_at(Level.LIBRARIAN, jes)
    same = operator_at(Level.LIBRARY_STAFF, jes)
    assert not policy.can(staff, "patrons.edit_access", higher)
    assert not policy.can(staff, "patrons.edit_access", same)


def test_explicit_grant_at_a_parent_covers_its_descendants(aide, district, ams_branch):
    _grant(aide, "patrons.edit_personal", district)
    assert policy.can(aide, "patrons.edit_personal", PatronFactory(home_site=ams_branch))
    assert aide.has_perm("patrons.edit_personal")


def test_has_perm_delegates_to_the_policy(librarian, library_admin, patron):
    assert librarian.has_perm("patrons.edit_access", patron)
    assert not librarian.has_perm("patrons.edit_access", library_admin)
    assert not librarian.has_perm("security.change_securitygroup")
    assert library_admin.has_perm("security.change_securitygroup")
    assert librarian.has_module_perms("patrons")
    assert not librarian.has_module_perms("sites")
