"""Query bounds: loading what an operator holds (security.policy's facts: group, sites,
grants of both kinds, delegations) costs one query, however many grants and delegations
they have."""

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patrons.models import Patron
from security import policy
from security.models import Grant, GroupDelegation, Level
from tests.factories import PatronFactory, SecurityGroupFactory, SiteFactory

pytestmark = pytest.mark.django_db

# Enough permissions for 20 grants of mixed kinds, each at its own site.
GRANTED = ["patrons.view_patron", "patrons.edit_personal", "patrons.edit_notes", "fines.add_fee"]


def perm(name: str) -> Permission:
    app_label, codename = name.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def add_grants_and_delegations(operator, admin, parent_site, count: int) -> None:
    delegable = [perm(policy.GIVE_STAFF_GROUPS), perm(policy.CHANGE_GROUP)]
    for i in range(count):
        Grant.objects.create(
            operator=operator,
            permission=perm(GRANTED[i % len(GRANTED)]),
            site=SiteFactory(parent=parent_site),
            kind=Grant.Kind.LIMITS if i % 2 else Grant.Kind.ADDS,
            granted_by=admin,
        )
        group = SecurityGroupFactory(level=Level.LIBRARY_STAFF + i % 2)  # below a Librarian
        GroupDelegation.objects.create(
            user=operator,
            permission=delegable[i % 2],
            content_object=group,
            delegated_by=admin,
        )


def facts_queries(operator, patron) -> int:
    operator = Patron.objects.select_related("security_group").get(pk=operator.pk)
    policy.forget(operator)
    with CaptureQueriesContext(connection) as queries:
        policy.can(operator, "patrons.view_patron", patron)
    return len(queries.captured_queries)


def test_facts_cost_the_same_with_1_or_20_grants_and_delegations(librarian, library_admin, ams):
    patron = PatronFactory(home_site=ams)
    add_grants_and_delegations(librarian, library_admin, ams, 1)
    one = facts_queries(librarian, patron)
    add_grants_and_delegations(librarian, library_admin, ams, 19)
    assert Grant.objects.filter(operator=librarian).count() == 20
    assert GroupDelegation.objects.filter(user=librarian).count() == 20
    assert facts_queries(librarian, patron) == one
    assert one == 1  # one statement: permissions, sites, site access, grants, delegations


def test_the_facts_read_every_grant_and_delegation(librarian, library_admin, ams):
    """The bound is not bought by leaving rows out."""
    add_grants_and_delegations(librarian, library_admin, ams, 20)
    operator = Patron.objects.select_related("security_group").get(pk=librarian.pk)
    facts = policy._facts(operator)
    assert sum(len(ids) for ids in facts.delegated.values()) == 20
    grant_sites = [*facts.grant_site_ids.values(), *facts.limit_site_ids.values()]
    assert sum(len(ids) for ids in grant_sites) == 20
