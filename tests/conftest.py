"""Role fixtures shared by every test.

The district (DIST) has two libraries, AMS (with a branch AMSB) and JES. Every operator
works at AMS unless the name says otherwise.
"""

import pytest
from django.apps import apps as django_apps

from security.defaults import ensure_default_groups, mark_default_grantable
from security.models import Level
from sites.models import Site
from tests.factories import OperatorFactory, PatronFactory, SiteFactory


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def default_groups(db):
    """The six default groups. Migrations create them; transactional tests flush them."""
    ensure_default_groups(django_apps)
    mark_default_grantable(django_apps)


@pytest.fixture
def district(default_groups):
    return SiteFactory(code="DIST", name="Demo District", kind=Site.Kind.DISTRICT)


@pytest.fixture
def ams(district):
    return SiteFactory(code="AMS", name="Adams Middle School", parent=district)


@pytest.fixture
def ams_branch(ams):
    return SiteFactory(code="AMSB", name="Adams Annex", parent=ams, kind=Site.Kind.BRANCH)


@pytest.fixture
def jes(district):
    return SiteFactory(code="JES", name="Jefferson Elementary School", parent=district)


@pytest.fixture
def district_admin(district, ams):
    return OperatorFactory(
        username="district", level=Level.DISTRICT_ADMINISTRATOR, home_site=district
    )


@pytest.fixture
def library_admin(ams):
    return OperatorFactory(username="libadmin", level=Level.LIBRARY_ADMINISTRATOR, home_site=ams)


@pytest.fixture
def librarian(ams):
    return OperatorFactory(username="librarian", level=Level.LIBRARIAN, home_site=ams)


@pytest.fixture
def staff(ams):
    return OperatorFactory(username="staff", level=Level.LIBRARY_STAFF, home_site=ams)


@pytest.fixture
def aide(ams):
    return OperatorFactory(username="aide", level=Level.LIBRARY_AIDE, home_site=ams)


@pytest.fixture
def patron(ams):
    return PatronFactory(username="patron", home_site=ams)


@pytest.fixture
def operator_at_other_site(jes):
    """A Librarian whose site access is JES only."""
    return OperatorFactory(username="jeslibrarian", level=Level.LIBRARIAN, home_site=jes)


@pytest.fixture
def anonymous():
    from django.contrib.auth.models import AnonymousUser

    return AnonymousUser()


@pytest.fixture
def roles(district_admin, library_admin, librarian, staff, aide, patron, operator_at_other_site):
    return {
        "district_admin": district_admin,
        "library_admin": library_admin,
        "librarian": librarian,
        "staff": staff,
        "aide": aide,
        "patron": patron,
        "operator_at_other_site": operator_at_other_site,
    }
