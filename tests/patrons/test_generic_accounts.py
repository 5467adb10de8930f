"""Generic accounts (Infiniti's shared search accounts): marked on the Personal tab only
when the record has site access and a Patron (level 5) group; on the Access tab a generic
record is refused a staff group and keeps site access. Refusals are messages next to the
field (422) and nothing is saved. The record header and the patron list mark them."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from patrons import services
from patrons.models import Patron
from security.models import Level, OperatorAction
from tests.factories import PatronFactory, group_at
from tests.tab_posts import access_data, personal_data, tab_url

pytestmark = pytest.mark.django_db


def fresh(patron) -> Patron:
    return Patron.objects.select_related("security_group").get(pk=patron.pk)


def changes_logged(patron) -> int:
    return OperatorAction.objects.filter(
        action=OperatorAction.Kind.PATRON_CHANGED, patron=patron
    ).count()


@pytest.fixture
def desk(ams):
    """A shared search account at AMS: Patron group, site access AMS."""
    return PatronFactory(
        first_name="Desk", last_name="Catalogue", home_site=ams, is_generic=True, site_access=[ams]
    )


# --- the Personal tab: marking a record generic ----------------------------------------------


def test_a_record_without_site_access_cannot_be_marked_generic(client, librarian, patron):
    client.force_login(librarian)
    response = client.post(tab_url(patron, "personal"), personal_data(patron, is_generic="on"))
    assert response.status_code == 422
    assert response.context["form"].errors["is_generic"] == [services.GENERIC_NEEDS_SITE_ACCESS]
    saved = fresh(patron)
    assert (saved.is_generic, saved.version) == (False, patron.version)
    assert changes_logged(patron) == 0


def test_a_staff_account_cannot_be_marked_generic(client, library_admin, aide):
    client.force_login(library_admin)
    response = client.post(tab_url(aide, "personal"), personal_data(aide, is_generic="on"))
    assert response.status_code == 422
    assert response.context["form"].errors["is_generic"] == [services.GENERIC_IS_STAFF]
    assert not fresh(aide).is_generic


def test_a_patron_with_site_access_is_marked_generic_and_the_header_and_list_say_so(
    client, librarian, patron, ams
):
    patron.site_access.add(ams)
    client.force_login(librarian)
    response = client.post(tab_url(patron, "personal"), personal_data(patron, is_generic="on"))
    assert response.status_code == 200
    assert fresh(patron).is_generic
    assert '<span class="badge badge-info">Generic account</span>' in response.content.decode()
    listed = client.get(reverse("patrons:list"), {"generic": "yes"}).content.decode()
    assert '<span class="badge badge-muted">Generic account</span>' in listed
    others = client.get(reverse("patrons:list"), {"generic": "no"}).content.decode()
    assert "Generic account</span>" not in others


# --- the Access tab: a generic record's group and sites ----------------------------------------


@pytest.mark.usefixtures("librarians_give_staff_groups")
def test_a_generic_account_is_refused_a_staff_group(client, librarian, desk):
    client.force_login(librarian)
    staff_group = group_at(Level.LIBRARY_STAFF)
    response = client.post(
        tab_url(desk, "access"), access_data(desk, security_group=staff_group.pk)
    )
    assert response.status_code == 422
    assert response.context["form"].errors["security_group"] == [services.GENERIC_NO_STAFF_GROUP]
    saved = fresh(desk)
    assert (saved.security_group.level, saved.version) == (Level.PATRON, desk.version)
    assert changes_logged(desk) == 0


def test_a_generic_account_keeps_site_access(client, librarian, desk, ams):
    client.force_login(librarian)
    response = client.post(tab_url(desk, "access"), access_data(desk, site_access=[]))
    assert response.status_code == 422
    assert response.context["form"].errors["site_access"] == [services.GENERIC_KEEPS_SITE_ACCESS]
    assert list(fresh(desk).site_access.all()) == [ams]


def test_sites_out_of_the_operators_reach_count_as_site_access(client, librarian, ams, jes):
    """The librarian cannot see or remove JES: the account keeps it, so it keeps access."""
    desk = PatronFactory(home_site=ams, is_generic=True, site_access=[ams, jes])
    client.force_login(librarian)
    response = client.post(tab_url(desk, "access"), access_data(desk, site_access=[]))
    assert response.status_code == 200
    assert list(fresh(desk).site_access.all()) == [jes]


def test_the_other_services_refuse_too(library_admin, desk, ams):
    with pytest.raises(ValidationError) as refused:
        services.patron_assign_group(
            actor=library_admin, patron=desk, group=group_at(Level.LIBRARY_AIDE)
        )
    assert refused.value.message_dict == {"security_group": [services.GENERIC_NO_STAFF_GROUP]}
    with pytest.raises(ValidationError) as refused:
        services.patron_set_site_access(actor=library_admin, patron=desk, sites=[])
    assert refused.value.message_dict == {"site_access": [services.GENERIC_KEEPS_SITE_ACCESS]}
    saved = fresh(desk)
    assert saved.security_group.level == Level.PATRON
    assert list(saved.site_access.all()) == [ams]


@pytest.mark.usefixtures("librarians_give_staff_groups")
def test_an_account_that_is_not_generic_is_given_a_staff_group(client, librarian, patron):
    client.force_login(librarian)
    staff_group = group_at(Level.LIBRARY_STAFF)
    response = client.post(
        tab_url(patron, "access"), access_data(patron, security_group=staff_group.pk)
    )
    assert response.status_code == 200
    assert fresh(patron).security_group == staff_group


def test_a_record_with_proxies_cannot_be_marked_generic(client, librarian, patron, ams):
    from patrons.models import ProxyLink

    patron.site_access.add(ams)
    ProxyLink.objects.create(proxy=PatronFactory(home_site=ams), patron=patron)
    client.force_login(librarian)
    response = client.post(tab_url(patron, "personal"), personal_data(patron, is_generic="on"))
    assert response.status_code == 422
    assert response.context["form"].errors["is_generic"] == [services.GENERIC_HAS_PROXIES]
    assert not fresh(patron).is_generic
