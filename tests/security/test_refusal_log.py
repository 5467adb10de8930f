"""Refused writes leave a trace: every crafted POST answered 403 (or 404 for what is out of
scope) is a line of its own kind in the operator log, at most one a minute per operator,
action and target, so that a script hammering a URL cannot fill the table."""

import datetime

import pytest
from django.urls import reverse

from patrons.models import Patron
from security import policy
from security.models import Level, OperatorAction
from tests.factories import OperatorFactory, PatronFactory, group_at
from tests.tab_posts import access_data

pytestmark = pytest.mark.django_db

REFUSED = OperatorAction.Kind.REFUSED


def access_url(patron) -> str:
    return reverse("patrons:tab", kwargs={"pk": patron.pk, "tab": "access"})


def refusals():
    return OperatorAction.objects.filter(action=REFUSED)


def test_a_crafted_group_post_is_refused_and_logged(client, librarian, patron):
    client.force_login(librarian)
    data = access_data(patron, security_group=group_at(Level.LIBRARY_ADMINISTRATOR).pk)
    response = client.post(access_url(patron), data, REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 403
    entry = refusals().get()
    assert entry.operator == librarian
    assert entry.object_type == "patrons:tab"
    assert entry.object_id == f"pk={patron.pk},tab=access"
    assert entry.ip_address == "203.0.113.9"
    assert entry.site == librarian.home_site
    assert entry.details["method"] == "POST"
    assert entry.details["status"] == 403
    assert entry.details["path"] == access_url(patron)


def test_a_post_out_of_scope_is_logged_as_refused_too(client, operator_at_other_site, patron):
    client.force_login(operator_at_other_site)
    response = client.post(access_url(patron), access_data(patron, username="mine"))
    assert response.status_code == 404
    assert refusals().get().operator == operator_at_other_site


def test_allowed_posts_and_refused_reads_are_not_refusals(client, librarian, patron, jes):
    client.force_login(librarian)
    assert client.post(access_url(patron), access_data(patron, username="ok")).status_code == 200
    outside = PatronFactory(home_site=jes)
    assert client.get(access_url(outside)).status_code == 404
    assert not refusals().exists()


def test_hammering_writes_one_line_a_minute(client, librarian, patron):
    client.force_login(librarian)
    data = access_data(patron, security_group=group_at(Level.LIBRARIAN).pk)
    for _ in range(20):
        assert client.post(access_url(patron), data).status_code == 403
    assert refusals().count() == 1
    refusals().update(at=refusals().get().at - datetime.timedelta(seconds=61))
    client.post(access_url(patron), data)
    assert refusals().count() == 2


def test_each_target_and_each_operator_counts_apart(client, librarian, patron, ams):
    other = PatronFactory(home_site=ams)
    client.force_login(librarian)
    group = group_at(Level.LIBRARIAN).pk
    client.post(access_url(patron), access_data(patron, security_group=group))
    client.post(access_url(other), access_data(other, security_group=group))
    second = OperatorFactory(level=Level.LIBRARIAN, home_site=ams)
    client.force_login(second)
    client.post(access_url(patron), access_data(patron, security_group=group))
    assert refusals().count() == 3


def test_the_refusal_says_why(client, librarian, ams):
    """The reason a view gave goes in the details, and on the page."""
    target = OperatorFactory(level=Level.LIBRARY_STAFF, home_site=ams)
    client.force_login(librarian)
    group = reverse("security:group", kwargs={"pk": group_at(Level.LIBRARY_AIDE).pk})
    response = client.post(group, {"name": "x", "level": 4})
    assert response.status_code == 403
    assert refusals().get().object_type == "security:group"
    assert Patron.objects.get(pk=target.pk).security_group.level == Level.LIBRARY_STAFF


def test_refusals_are_a_kind_of_their_own_in_the_log_filter(
    client, district_admin, librarian, patron
):
    client.force_login(librarian)
    client.post(access_url(patron), access_data(patron, security_group=group_at(2).pk))
    client.force_login(district_admin)
    page = client.get(reverse("security:log"), {"action": REFUSED})
    assert page.status_code == 200
    assert [entry.action for entry in page.context["page"].rows] == [REFUSED]
    assert "Refused" in page.content.decode()


# --- one's own Access tab -----------------------------------------------------------------


def test_a_group_posted_on_ones_own_access_tab_is_refused_not_ignored(
    client, district_admin, district
):
    OperatorFactory(level=Level.DISTRICT_ADMINISTRATOR, home_site=district)
    client.force_login(district_admin)
    data = access_data(district_admin, security_group=group_at(Level.LIBRARY_STAFF).pk)
    response = client.post(access_url(district_admin), data)
    assert response.status_code == 403
    assert policy.OWN_GROUP in response.content.decode()
    assert "Access saved." not in response.content.decode()
    admin = Patron.objects.select_related("security_group").get(pk=district_admin.pk)
    assert admin.security_group.level == Level.DISTRICT_ADMINISTRATOR
    assert refusals().get().details["reason"] == policy.OWN_GROUP


def test_ones_own_access_tab_saves_without_a_group(client, district_admin):
    """A browser posts no locked field: the rest of the tab saves."""
    client.force_login(district_admin)
    data = access_data(district_admin, username="district2")
    del data["security_group"]
    response = client.post(access_url(district_admin), data)
    assert response.status_code == 200
    assert "Access saved." in response.content.decode()
    assert Patron.objects.get(pk=district_admin.pk).username == "district2"
