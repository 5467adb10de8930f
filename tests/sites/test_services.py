import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from sites.models import SITE_CYCLE, Site
from sites.services import ROOT_SITE_REFUSED, SITE_CODE_TAKEN, site_create, site_update

pytestmark = pytest.mark.django_db


def _create(actor, parent, code="NEW", **fields):
    return site_create(actor=actor, code=code, name="New Library", parent=parent, **fields)


def test_library_admin_creates_a_site_within_scope_and_is_recorded(library_admin, ams):
    site = _create(library_admin, ams, code="  ams2 ", kind=Site.Kind.BRANCH)

    site.refresh_from_db()
    assert (site.code, site.parent, site.kind) == ("AMS2", ams, Site.Kind.BRANCH)
    assert site.created_by == library_admin and site.updated_by == library_admin
    event = site.events.get(pgh_label="insert")
    assert event.pgh_context.metadata["user"] == library_admin.pk


def test_a_parent_outside_scope_is_refused_and_nothing_is_created(library_admin, jes):
    with pytest.raises(PermissionDenied):
        _create(library_admin, jes)
    assert not Site.objects.filter(code="NEW").exists()


def test_only_a_district_administrator_creates_a_top_level_site(library_admin, district_admin):
    with pytest.raises(PermissionDenied, match=ROOT_SITE_REFUSED):
        _create(library_admin, None)
    assert _create(district_admin, None, kind=Site.Kind.DISTRICT).parent is None


@pytest.mark.parametrize("role", ["librarian", "staff", "aide", "patron"])
def test_operators_without_the_sites_permission_cannot_create(request, role, ams):
    with pytest.raises(PermissionDenied):
        _create(request.getfixturevalue(role), ams)
    assert not Site.objects.filter(code="NEW").exists()


def test_codes_are_unique_whatever_the_case(library_admin, ams, ams_branch):
    with pytest.raises(ValidationError) as raised:
        _create(library_admin, ams, code="amsb")
    assert raised.value.message_dict == {"code": [SITE_CODE_TAKEN]}


def test_update_renames_and_records_the_actor(library_admin, ams_branch, ams):
    site_update(
        actor=library_admin, site=ams_branch, code="amsx", name="Annex", kind="branch", parent=ams
    )

    ams_branch.refresh_from_db()
    assert (ams_branch.code, ams_branch.name) == ("AMSX", "Annex")
    assert ams_branch.updated_by == library_admin


def test_update_keeps_a_parent_outside_scope(library_admin, ams, district):
    """A Library Administrator edits their own library without having to move it."""
    site_update(
        actor=library_admin, site=ams, code="AMS", name="Adams MS", kind="library", parent=district
    )

    ams.refresh_from_db()
    assert (ams.name, ams.parent) == ("Adams MS", district)


def test_moving_a_site_under_a_parent_outside_scope_is_refused(library_admin, ams_branch, jes):
    with pytest.raises(PermissionDenied):
        site_update(
            actor=library_admin,
            site=ams_branch,
            code="AMSB",
            name="Annex",
            kind="branch",
            parent=jes,
        )
    ams_branch.refresh_from_db()
    assert ams_branch.parent.code == "AMS"


def test_a_site_outside_scope_cannot_be_changed(library_admin, jes, district):
    with pytest.raises(PermissionDenied):
        site_update(
            actor=library_admin,
            site=jes,
            code="JES",
            name="Renamed",
            kind="library",
            parent=district,
        )
    jes.refresh_from_db()
    assert jes.name == "Jefferson Elementary School"


@pytest.mark.parametrize("new_parent", ["ams", "ams_branch"])
def test_cycles_are_refused(request, district_admin, ams, new_parent):
    request.getfixturevalue("ams_branch")
    parent = request.getfixturevalue(new_parent)
    with pytest.raises(ValidationError) as raised:
        site_update(
            actor=district_admin, site=ams, code="AMS", name="Adams", kind="library", parent=parent
        )
    assert raised.value.message_dict == {"parent": [SITE_CYCLE]}
    ams.refresh_from_db()
    assert ams.parent.code == "DIST"
