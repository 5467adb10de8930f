"""Rule 6 adds an operator's home site to their site access: only when the actor may give
access to that site, or a change of home site would be a way around the Access tab."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from patrons import services
from patrons.services import HOME_SITE_ACCESS_NOT_YOURS
from security.models import Grant, Level
from tests.factories import OperatorFactory, PatronFactory
from tests.tab_posts import personal_data

pytestmark = pytest.mark.django_db


def personal_url(patron) -> str:
    return reverse("patrons:tab", kwargs={"pk": patron.pk, "tab": "personal"})


def access_codes(patron) -> set[str]:
    return set(patron.site_access.values_list("code", flat=True))


@pytest.fixture
def desk_staff(ams, jes):
    """The review's demo-staff: Library Staff (no edit_access) with sites AMS and JES."""
    return OperatorFactory(
        username="desk", level=Level.LIBRARY_STAFF, home_site=ams, site_access=[ams, jes]
    )


@pytest.fixture
def aide_at_ams(ams):
    return OperatorFactory(username="amsaide", level=Level.LIBRARY_AIDE, home_site=ams)


def test_a_home_site_change_never_grants_site_access(client, desk_staff, aide_at_ams, jes):
    client.force_login(desk_staff)
    response = client.post(personal_url(aide_at_ams), personal_data(aide_at_ams, home_site=jes.pk))
    assert response.status_code == 422
    message = HOME_SITE_ACCESS_NOT_YOURS.format(site=jes)
    assert message in response.context["form"].errors["home_site"]
    aide_at_ams.refresh_from_db()
    assert aide_at_ams.home_site.code == "AMS"
    assert access_codes(aide_at_ams) == {"AMS"}


def test_there_and_back_leaves_no_site_behind(client, desk_staff, aide_at_ams, ams, jes):
    """The review's steps: to JES, then back to AMS."""
    client.force_login(desk_staff)
    client.post(personal_url(aide_at_ams), personal_data(aide_at_ams, home_site=jes.pk))
    aide_at_ams.refresh_from_db()
    client.post(personal_url(aide_at_ams), personal_data(aide_at_ams, home_site=ams.pk))
    assert access_codes(aide_at_ams) == {"AMS"}


def test_whoever_may_give_the_site_moves_the_home_site(client, ams, jes, aide_at_ams):
    librarian = OperatorFactory(level=Level.LIBRARIAN, home_site=ams, site_access=[ams, jes])
    client.force_login(librarian)
    response = client.post(personal_url(aide_at_ams), personal_data(aide_at_ams, home_site=jes.pk))
    assert response.status_code == 200
    aide_at_ams.refresh_from_db()
    assert aide_at_ams.home_site == jes
    assert access_codes(aide_at_ams) == {"AMS", "JES"}


def test_a_grant_of_edit_access_at_the_site_is_enough(ams, jes, desk_staff, aide_at_ams):
    Grant.objects.create(
        operator=desk_staff, permission=Permission.objects.get(codename="edit_access"), site=jes
    )
    services.patron_update(
        actor=desk_staff,
        patron=aide_at_ams,
        action="patrons.edit_personal",
        version=aide_at_ams.version,
        home_site=jes,
    )
    assert access_codes(aide_at_ams) == {"AMS", "JES"}


def test_a_patrons_home_site_moves_freely(client, desk_staff, jes, ams):
    """Patrons have no staff side: their site access gives nothing, the rule is not asked."""
    patron = PatronFactory(home_site=ams)
    client.force_login(desk_staff)
    response = client.post(personal_url(patron), personal_data(patron, home_site=jes.pk))
    assert response.status_code == 200
    patron.refresh_from_db()
    assert patron.home_site == jes


def test_an_operator_who_has_the_site_already_moves_without_edit_access(
    client, desk_staff, ams, jes
):
    aide = OperatorFactory(level=Level.LIBRARY_AIDE, home_site=ams, site_access=[ams, jes])
    client.force_login(desk_staff)
    response = client.post(personal_url(aide), personal_data(aide, home_site=jes.pk))
    assert response.status_code == 200
    assert access_codes(aide) == {"AMS", "JES"}
