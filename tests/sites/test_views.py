import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from sites.forms import PARENT_REQUIRED
from sites.models import Site
from sites.services import SITE_CODE_TAKEN
from sites.views import SITE_CREATED
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db

LIST = reverse("sites:list")
CREATE = reverse("sites:create")

# role -> expected status of list and create (GET)
PAGE_STATUS = {
    "anonymous": 302,
    "patron": 403,
    "aide": 403,
    "staff": 403,
    "librarian": 403,
    "operator_at_other_site": 403,
    "library_admin": 200,
    "district_admin": 200,
}
# role -> expected status of editing AMS (in the Library Administrator's scope) and JES
EDIT_STATUS = {
    "anonymous": (302, 302),
    "patron": (403, 403),
    "aide": (403, 403),
    "staff": (403, 403),
    "librarian": (403, 403),
    "operator_at_other_site": (403, 403),
    "library_admin": (200, 404),
    "district_admin": (200, 200),
}


@pytest.fixture
def login(client, roles):
    def as_role(role):
        if role != "anonymous":
            client.force_login(roles[role])
        return client

    return as_role


def _edit_url(site):
    return reverse("sites:edit", args=[site.pk])


@pytest.mark.parametrize(("role", "status"), PAGE_STATUS.items())
@pytest.mark.parametrize("url", [LIST, CREATE])
def test_list_and_create_pages_by_role(login, role, status, url):
    response = login(role).get(url)
    assert response.status_code == status
    if status == 302:
        assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize(("role", "statuses"), EDIT_STATUS.items())
def test_edit_page_by_role(login, role, statuses, ams, jes):
    client = login(role)
    assert (client.get(_edit_url(ams)).status_code, client.get(_edit_url(jes)).status_code) == (
        statuses
    )


@pytest.mark.parametrize("role", ["patron", "librarian", "library_admin"])
def test_crafted_edits_are_refused(login, role, jes, district):
    """A POST to a site the role may not change changes nothing (403, or 404 outside scope)."""
    response = login(role).post(
        _edit_url(jes), {"code": "JES", "name": "Hacked", "kind": "library", "parent": district.pk}
    )
    assert response.status_code in (403, 404)
    jes.refresh_from_db()
    assert jes.name == "Jefferson Elementary School"


def test_library_admin_lists_only_their_scope_with_edit_links(login, ams_branch, jes):
    response = login("library_admin").get(LIST)
    codes = [row.site.code for row in response.context["rows"]]
    assert codes == ["AMS", "AMSB"]
    assert _edit_url(ams_branch).encode() in response.content
    assert _edit_url(jes).encode() not in response.content


def test_library_admin_creates_a_branch(login, library_admin, ams):
    client = login("library_admin")
    response = client.post(
        CREATE,
        {"code": "amsc", "name": "Adams Courtyard", "kind": "branch", "parent": ams.pk},
        follow=True,
    )
    site = Site.objects.get(code="AMSC")
    assert (site.parent, site.created_by) == (ams, library_admin)
    assert SITE_CREATED.format(site=site) in response.content.decode()


def test_crafted_post_under_a_parent_outside_scope_creates_nothing(login, jes):
    response = login("library_admin").post(
        CREATE, {"code": "JES2", "name": "Sneaky", "kind": "branch", "parent": jes.pk}
    )
    assert response.status_code == 422
    assert response.context["form"].errors["parent"]
    assert not Site.objects.filter(code="JES2").exists()


def test_library_admin_must_choose_a_parent(login, ams):
    response = login("library_admin").post(
        CREATE, {"code": "TOP", "name": "Top", "kind": "library"}
    )
    assert response.status_code == 422
    assert PARENT_REQUIRED in response.content.decode()
    assert not Site.objects.filter(code="TOP").exists()


def test_district_admin_creates_a_top_level_site(login):
    response = login("district_admin").post(
        CREATE, {"code": "DIST2", "name": "Second District", "kind": "district", "parent": ""}
    )
    assert response.status_code == 302
    assert Site.objects.get(code="DIST2").parent is None


def test_a_code_in_use_is_reported_next_to_the_field(login, ams):
    response = login("library_admin").post(
        CREATE, {"code": "ams", "name": "Copy", "kind": "branch", "parent": ams.pk}
    )
    assert response.status_code == 422
    assert response.context["form"].errors["code"] == [SITE_CODE_TAKEN]
    assert Site.objects.filter(code__iexact="ams").count() == 1


def test_library_admin_edits_their_own_library_keeping_its_parent(login, ams, district):
    response = login("library_admin").get(_edit_url(ams))
    assert list(response.context["form"].fields["parent"].queryset) == [district]

    response = login("library_admin").post(
        _edit_url(ams),
        {"code": "AMS", "name": "Adams MS", "kind": "library", "parent": district.pk},
    )
    assert response.status_code == 302
    ams.refresh_from_db()
    assert (ams.name, ams.parent) == ("Adams MS", district)


def test_a_cycle_cannot_be_posted(login, ams, ams_branch):
    response = login("district_admin").post(
        _edit_url(ams), {"code": "AMS", "name": "Adams", "kind": "library", "parent": ams_branch.pk}
    )
    assert response.status_code == 422
    assert response.context["form"].errors["parent"]
    ams.refresh_from_db()
    assert ams.parent.code == "DIST"


def _list_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(LIST).status_code == 200
    return len(queries)


def test_list_queries_do_not_grow_with_the_number_of_sites(
    login, ams, django_assert_max_num_queries
):
    client = login("district_admin")
    assert Site.objects.count() == 3
    few = _list_queries(client)
    SiteFactory.create_batch(27, parent=ams)
    assert Site.objects.count() == 30
    assert _list_queries(client) == few
    with django_assert_max_num_queries(8):  # 7, and the verified session's two-factor device
        client.get(LIST)
