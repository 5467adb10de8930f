"""policy.OWN_ACCOUNT: a signed-in, active patron of any level acting on their own account
(/me/), and on nothing else. Both sides of the rule, at every level."""

import pytest
from django.core.exceptions import PermissionDenied

from patrons.models import Patron
from security import policy
from security.models import Level, SecurityGroup
from sites.models import Site
from tests.factories import OperatorFactory, PatronFactory, group_at

pytestmark = pytest.mark.django_db

LEVELS = list(Level)


def someone_at(level, site):
    return OperatorFactory(level=level, home_site=site)


@pytest.mark.parametrize("level", LEVELS)
def test_everyone_acts_on_their_own_account_patrons_included(level, ams):
    user = someone_at(level, ams)

    assert policy.can(user, policy.OWN_ACCOUNT, user)
    assert user.has_perm(policy.OWN_ACCOUNT, user)
    policy.require(user, policy.OWN_ACCOUNT, user)
    assert list(policy.scope(user, policy.OWN_ACCOUNT, Patron)) == [user]


@pytest.mark.parametrize("target_level", LEVELS)
@pytest.mark.parametrize("level", LEVELS)
def test_nobody_acts_on_another_account_through_it(level, target_level, ams):
    """Not even a District Administrator: staff work goes through the staff actions."""
    user = someone_at(level, ams)
    other = PatronFactory(security_group=group_at(target_level), home_site=ams)

    assert not policy.can(user, policy.OWN_ACCOUNT, other)
    assert not user.has_perm(policy.OWN_ACCOUNT, other)
    with pytest.raises(PermissionDenied):
        policy.require(user, policy.OWN_ACCOUNT, other)


@pytest.mark.parametrize("level", LEVELS)
def test_without_an_object_it_allows_nothing(level, ams):
    user = someone_at(level, ams)

    assert not policy.can(user, policy.OWN_ACCOUNT)
    assert not policy.can(user, policy.OWN_ACCOUNT, None)


def test_an_object_of_another_model_with_the_same_id_is_not_the_account(patron):
    for obj in (Site(pk=patron.pk), SecurityGroup(pk=patron.pk)):
        assert not policy.can(patron, policy.OWN_ACCOUNT, obj)
    assert not policy.scope(patron, policy.OWN_ACCOUNT, Site).exists()


def test_an_unsaved_patron_is_nobody_s_account(patron, ams):
    assert not policy.can(patron, policy.OWN_ACCOUNT, Patron(home_site=ams))


def test_anonymous_has_no_account(anonymous, patron):
    assert not policy.can(anonymous, policy.OWN_ACCOUNT, patron)
    assert not policy.scope(anonymous, policy.OWN_ACCOUNT, Patron).exists()


@pytest.mark.parametrize("status", [s for s in Patron.Status if s != Patron.Status.ACTIVE])
def test_an_inactive_account_can_do_nothing_with_itself(status, patron):
    patron.status = status
    patron.save()
    patron.refresh_from_db()

    assert not policy.can(patron, policy.OWN_ACCOUNT, patron)
    assert not policy.scope(patron, policy.OWN_ACCOUNT, Patron).exists()


def test_it_opens_no_staff_action_on_oneself(patron, librarian):
    """Rule 1 still holds for a patron, and the level rule for an operator's own record."""
    for user in (patron, librarian):
        assert policy.can(user, policy.OWN_ACCOUNT, user)
        assert not policy.can(user, "patrons.edit_contact", user)
        assert not policy.can(user, "patrons.edit_personal", user)
    assert not policy.can(patron, "patrons.view_patron", patron)
    assert policy.permissions_of(patron) == frozenset()
