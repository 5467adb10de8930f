"""Role fixtures shared by every test.

The district (DIST) has two libraries, AMS (with a branch AMSB) and JES. Every operator
works at AMS unless the name says otherwise.
"""

import time
import zlib

import django.test
import factory.random
import pytest
from django.apps import apps as django_apps
from django.contrib.auth import get_user_model
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from fines.defaults import ensure_default_lists
from security import two_factor
from security.defaults import (
    DEFAULT_GROUPS,
    add_fines_defaults,
    add_staff_group_givers,
    ensure_default_groups,
    mark_default_grantable,
)
from security.models import Level, SecurityGroup
from sites.models import Site
from tests.factories import OperatorFactory, PatronFactory, SiteFactory, group_at

DEFAULT_GROUP_NAMES = [name for name, *_ in DEFAULT_GROUPS]


@pytest.fixture(autouse=True)
def _made_up_data_from_the_test_id(request):
    """The names Faker makes up are seeded by the test's own id: the same on every run and
    in every order, so a test that a made-up name breaks fails every time, not one seed in
    a hundred."""
    factory.random.reseed_random(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def two_factor_device(user) -> TOTPDevice | None:
    """The confirmed authenticator of a user whose level requires two-factor sign-in (one is
    created if they have none); None for everyone else. The level is read afresh."""
    user = get_user_model().objects.select_related("security_group").get(pk=user.pk)
    if not two_factor.is_required(user):
        return None
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(
        user=user, name=two_factor.AUTHENTICATOR_NAME, confirmed=True
    )


def authenticator_code(device: TOTPDevice) -> str:
    """What the user's authenticator app shows: the current code, or the next one when the
    current one was already used (django-otp accepts a code once, and one step ahead)."""
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    if totp.t() <= device.last_t:
        totp.time = time.time() + device.step * (device.last_t - totp.t() + 1)
    return f"{totp.token():0{device.digits}d}"


class SignedInClient(django.test.Client):
    """`force_login` means a finished sign-in, both factors: for a user whose level requires
    two-factor sign-in it also gives them a confirmed TOTP device (if they have none) and
    marks the session verified by it, exactly as django_otp.login does. Tests of the
    second step itself sign in with a password through the login view instead."""

    def force_login(self, user, backend=None):
        super().force_login(user, backend)
        device = two_factor_device(user)
        if device is not None:
            session = self.session
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
            session.save()


@pytest.fixture
def client():
    """pytest-django's `client`, with a two-factor-aware force_login (SignedInClient)."""
    return SignedInClient()


@pytest.fixture
def default_groups(db):
    """The six default groups, with the fines lists. Migrations create them and
    transactional tests flush them (all or nothing), so they are made again only when
    missing: the five idempotent calls cost ~60 ms, in most of the suite's tests."""
    if SecurityGroup.objects.filter(name__in=DEFAULT_GROUP_NAMES).count() == len(
        DEFAULT_GROUP_NAMES
    ):
        return
    ensure_default_groups(django_apps)
    mark_default_grantable(django_apps)
    add_fines_defaults(django_apps)
    add_staff_group_givers(django_apps)
    ensure_default_lists(django_apps)


@pytest.fixture
def librarians_give_staff_groups(default_groups):
    """Librarians whose group may give staff groups (security.assign_securitygroup), as
    Library Administrators' may: for tests about levels, sites and the Access tab's other
    rules, not about that permission (tests/security/test_delegations.py)."""
    from django.contrib.auth.models import Permission

    group_at(Level.LIBRARIAN).permissions.add(
        Permission.objects.get(content_type__app_label="security", codename="assign_securitygroup")
    )


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
