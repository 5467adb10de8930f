import pytest

from sites.selectors import site_list, site_parent_choices
from tests.factories import PatronFactory

pytestmark = pytest.mark.django_db


def _codes(rows):
    return [(row.site.code, row.depth) for row in rows]


def test_tree_order_with_depth_for_a_district_administrator(district_admin, ams_branch, jes):
    assert _codes(site_list(operator=district_admin)) == [
        ("DIST", 0),
        ("AMS", 1),
        ("AMSB", 2),
        ("JES", 1),
    ]


def test_a_library_administrator_sees_their_library_and_its_branches(
    library_admin, ams_branch, jes
):
    rows = site_list(operator=library_admin)
    assert _codes(rows) == [("AMS", 0), ("AMSB", 1)]
    assert all(row.can_change for row in rows)


def test_patron_counts_are_by_home_site(district_admin, ams_branch, jes):
    PatronFactory.create_batch(3, home_site=jes)
    counts = {row.site.code: row.patron_count for row in site_list(operator=district_admin)}
    assert counts == {"DIST": 1, "AMS": 0, "AMSB": 0, "JES": 3}


def test_parent_choices_never_offer_the_site_or_its_descendants(
    district_admin, ams, ams_branch, jes
):
    choices = site_parent_choices(operator=district_admin, site=ams)
    assert sorted(site.code for site in choices) == ["DIST", "JES"]


def test_parent_choices_keep_the_current_parent_outside_scope(library_admin, ams, ams_branch):
    assert [s.code for s in site_parent_choices(operator=library_admin, site=ams)] == ["DIST"]
    assert [s.code for s in site_parent_choices(operator=library_admin)] == ["AMS", "AMSB"]
