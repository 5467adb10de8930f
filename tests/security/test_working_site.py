"""The working site: chosen in the header among the sites of one's access, remembered in
the session, the default home site of new patrons."""

import pytest
from django.urls import reverse

from security.views.working_site import WORKING_SITE_SET
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

CHOOSE = reverse("security:working_site")
REGISTER = reverse("patrons:register")


def _initial_home_site(client):
    return client.get(REGISTER).context["form"].initial.get("home_site")


def test_signing_in_starts_at_the_home_site(client, librarian, ams):
    client.post(reverse("login"), {"username": "librarian", "password": DEFAULT_PASSWORD})
    assert client.session["working_site_id"] == ams.pk
    assert _initial_home_site(client) == ams.pk


def test_an_operator_with_several_sites_picks_one_for_new_patrons(
    client, librarian, ams, ams_branch
):
    client.force_login(librarian)
    header = client.get(reverse("home")).content.decode()
    assert f'href="{CHOOSE}?next=/"' in header
    assert ams_branch in client.get(CHOOSE).context["form"].fields["site"].queryset

    response = client.post(CHOOSE, {"site": ams_branch.pk, "next": REGISTER}, follow=True)

    assert response.redirect_chain[-1][0] == REGISTER
    assert WORKING_SITE_SET.format(site=ams_branch) in response.content.decode()
    assert _initial_home_site(client) == ams_branch.pk
    assert "Working at <strong>AMSB</strong>" in client.get(reverse("home")).content.decode()


def test_a_site_outside_ones_access_is_refused_and_nothing_changes(
    client, librarian, ams, ams_branch, jes
):
    client.force_login(librarian)
    client.post(CHOOSE, {"site": ams_branch.pk})
    response = client.post(CHOOSE, {"site": jes.pk})
    assert response.status_code == 422
    assert "Select a valid choice" in response.content.decode()
    assert client.session["working_site_id"] == ams_branch.pk


def test_a_working_site_no_longer_in_access_is_not_offered_at_registration(
    client, librarian, ams, jes
):
    client.force_login(librarian)
    session = client.session
    session["working_site_id"] = jes.pk  # e.g. chosen before the access changed
    session.save()
    assert _initial_home_site(client) == ams.pk


def test_one_site_no_picker(client, operator_at_other_site):
    client.force_login(operator_at_other_site)  # JES only, no branches
    assert CHOOSE not in client.get(reverse("home")).content.decode()


def test_only_local_next_urls_are_followed(client, librarian, ams):
    client.force_login(librarian)
    response = client.post(CHOOSE, {"site": ams.pk, "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_patrons_have_no_working_site(client, patron, ams):
    client.force_login(patron)
    assert client.post(CHOOSE, {"site": ams.pk}).status_code == 403
    assert "working_site_id" not in client.session
