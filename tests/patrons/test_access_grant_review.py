"""When an operator's security group changes, their explicit grants are reviewed on the
Access tab: each is revoked (and logged) unless kept on purpose, so that nobody keeps the
powers of an old job. Without a change of group nothing is revoked."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from patrons import services
from patrons.models import Patron
from patrons.views.access import GRANTS_REVIEWED
from security import services as security_services
from security.models import Grant, Level, OperatorAction
from tests.factories import OperatorFactory, group_at
from tests.tab_posts import access_data

pytestmark = pytest.mark.django_db


def url(patron):
    return reverse("patrons:tab", kwargs={"pk": patron.pk, "tab": "access"})


def perm(codename: str) -> Permission:
    return Permission.objects.get(content_type__app_label="patrons", codename=codename)


@pytest.fixture
def operator(ams):
    """A Library Staff operator of AMS with two explicit grants."""
    return OperatorFactory(level=Level.LIBRARY_STAFF, home_site=ams)


@pytest.fixture
def grants(operator, ams, ams_branch, library_admin):
    return [
        Grant.objects.create(
            operator=operator, permission=perm("edit_access"), site=ams, granted_by=library_admin
        ),
        Grant.objects.create(operator=operator, permission=perm("edit_notes"), site=ams_branch),
    ]


def remaining(operator) -> set[Grant]:
    return set(Grant.objects.filter(operator=operator))


def revocations() -> list[OperatorAction]:
    return list(OperatorAction.objects.filter(action=OperatorAction.Kind.GRANT_REVOKED))


def test_each_grant_is_listed_with_an_unchecked_keep_box(client, librarian, operator, grants):
    client.force_login(librarian)
    response = client.get(url(operator))
    assert response.context["grants_reviewable"]
    page = response.content.decode()
    assert "Keep if the group changes" in page
    for grant in grants:
        assert f'name="keep_grants" value="{grant.pk}"' in page
    assert "checked" not in page.split('id="grants-title"')[1].split("</section>")[0]


@pytest.mark.usefixtures("librarians_give_staff_groups")
def test_a_change_of_group_revokes_every_grant_not_kept(client, librarian, operator, grants):
    client.force_login(librarian)
    data = access_data(operator, security_group=group_at(Level.LIBRARY_AIDE).pk)
    response = client.post(url(operator), data)
    assert response.status_code == 200
    assert remaining(operator) == set()
    assert GRANTS_REVIEWED.format(revoked=2, kept=0) in response.content.decode()
    logged = revocations()
    assert {entry.details["permission"] for entry in logged} == {
        "patrons.edit_access",
        "patrons.edit_notes",
    }
    assert {(entry.operator, entry.patron) for entry in logged} == {(librarian, operator)}
    assert {entry.details["reason"] for entry in logged} == {security_services.GROUP_CHANGED}


@pytest.mark.usefixtures("librarians_give_staff_groups")
def test_a_grant_kept_on_purpose_stays(client, librarian, operator, grants):
    kept, revoked = grants
    client.force_login(librarian)
    data = access_data(
        operator, security_group=group_at(Level.LIBRARY_AIDE).pk, keep_grants=[kept.pk]
    )
    response = client.post(url(operator), data)
    assert remaining(operator) == {kept}
    assert GRANTS_REVIEWED.format(revoked=1, kept=1) in response.content.decode()
    assert [entry.object_id for entry in revocations()] == [str(revoked.pk)]


def test_without_a_change_of_group_nothing_is_revoked(client, librarian, operator, grants):
    client.force_login(librarian)
    response = client.post(url(operator), access_data(operator, username="renamed"))
    assert response.status_code == 200
    assert remaining(operator) == set(grants)
    assert "Explicit permissions after" not in response.content.decode()
    assert revocations() == []


@pytest.mark.usefixtures("librarians_give_staff_groups")
def test_keeping_another_operators_grant_has_no_effect(client, librarian, operator, grants, ams):
    other = OperatorFactory(level=Level.LIBRARY_AIDE, home_site=ams)
    others = Grant.objects.create(operator=other, permission=perm("edit_notes"), site=ams)
    client.force_login(librarian)
    data = access_data(
        operator, security_group=group_at(Level.LIBRARY_AIDE).pk, keep_grants=[others.pk]
    )
    response = client.post(url(operator), data)
    assert response.status_code == 200
    assert remaining(operator) == set()
    assert remaining(other) == {others}
    assert GRANTS_REVIEWED.format(revoked=2, kept=0) in response.content.decode()


def test_a_crafted_keep_value_that_is_not_an_id_is_refused(client, librarian, operator, grants):
    client.force_login(librarian)
    data = access_data(operator, security_group=group_at(Level.LIBRARY_AIDE).pk, keep_grants="x")
    assert client.post(url(operator), data).status_code == 422
    assert Patron.objects.get(pk=operator.pk).security_group.level == Level.LIBRARY_STAFF
    assert remaining(operator) == set(grants)


def test_an_operator_made_a_patron_keeps_no_grant(client, librarian, operator, grants):
    client.force_login(librarian)
    data = access_data(
        operator,
        security_group=group_at(Level.PATRON).pk,
        keep_grants=[grant.pk for grant in grants],
    )
    assert client.post(url(operator), data).status_code == 200
    assert remaining(operator) == set()


def test_a_refused_change_of_group_revokes_nothing(client, librarian, operator, grants):
    client.force_login(librarian)
    crafted = access_data(operator, security_group=group_at(Level.LIBRARIAN).pk)
    assert client.post(url(operator), crafted).status_code == 403
    assert remaining(operator) == set(grants)
    assert revocations() == []


def test_no_keep_box_on_ones_own_record_or_read_only(client, librarian, staff, grants, operator):
    client.force_login(staff)  # Library Staff see the Access tab read-only
    response = client.get(url(operator))
    assert not response.context["grants_reviewable"]
    assert 'name="keep_grants"' not in response.content.decode()
    Grant.objects.create(operator=librarian, permission=perm("edit_notes"), site=staff.home_site)
    client.force_login(librarian)
    response = client.get(url(librarian))
    assert not response.context["grants_reviewable"]


@pytest.mark.usefixtures("librarians_give_staff_groups")
def test_assigning_a_group_through_the_service_reviews_grants_too(librarian, operator, grants):
    kept = grants[0]
    services.patron_assign_group(
        actor=librarian, patron=operator, group=group_at(Level.LIBRARY_AIDE), keep_grants=[kept.pk]
    )
    assert remaining(operator) == {kept}
    services.patron_assign_group(
        actor=librarian, patron=operator, group=group_at(Level.LIBRARY_AIDE), keep_grants=[]
    )
    assert remaining(operator) == {kept}  # the same group: no change, no review


@pytest.mark.usefixtures("librarians_give_staff_groups")
def test_the_review_adds_one_query_per_revoked_grant_its_log_line(
    client, librarian, ams, django_assert_max_num_queries
):
    client.force_login(librarian)
    codenames = ("edit_access", "edit_notes", "edit_blocks", "edit_contact")
    counts = []
    for how_many in (1, 4):
        holder = OperatorFactory(level=Level.LIBRARY_STAFF, home_site=ams)
        for codename in codenames[:how_many]:
            Grant.objects.create(operator=holder, permission=perm(codename), site=ams)
        data = access_data(holder, security_group=group_at(Level.LIBRARY_AIDE).pk)
        # 50, and the delegations: listed on the page, reviewed with the grants
        with django_assert_max_num_queries(53) as captured:
            client.post(url(holder), data)
        counts.append(len(captured.captured_queries))
        assert remaining(holder) == set()
    assert counts[1] == counts[0] + 3
