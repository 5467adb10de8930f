import io

import pytest
from django.apps import apps
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.test import RequestFactory

from patrons import demo
from patrons.models import Patron
from security import policy
from security.models import Level
from sites.models import Site
from tests.factories import SiteFactory

pytestmark = pytest.mark.usefixtures("default_groups")

SCHOOL_CODES = {"AMS", "COMP", "JES", "WHS"}


def seed(patrons=50):
    out = io.StringIO()
    call_command("seed_demo", patrons=patrons, stdout=out)
    return out.getvalue()


def seeded_patrons():
    return Patron.objects.filter(barcode__regex=demo.BARCODE_PATTERN)


def demo_account(username):
    return Patron.objects.select_related("security_group").get(username=username)


def test_creates_the_district_schools_and_patrons():
    seed()

    district = Site.objects.get(parent=None)
    assert (district.code, district.name, district.kind) == ("DIST", "Demo District", "district")
    schools = Site.objects.filter(parent=district)
    assert {s.code for s in schools} == SCHOOL_CODES
    assert schools.get(code="COMP").name == "COMPanion CC Demo"
    barcodes = list(seeded_patrons().values_list("barcode", flat=True))
    assert len(barcodes) == len(set(barcodes)) == 50
    assert set(seeded_patrons().values_list("home_site__code", flat=True)) <= SCHOOL_CODES


def test_demo_accounts_sign_in_with_their_documented_passwords():
    output = seed()

    for account in demo.DEMO_ACCOUNTS:
        user = authenticate(
            request=RequestFactory().post("/"),
            username=account.username,
            password=account.password,
        )
        assert user is not None, account.username
        assert user.security_group.level == account.level
        assert f"| {account.username} | {account.password} |" in output
    assert {a.level for a in demo.DEMO_ACCOUNTS} == set(Level)


def test_demo_accounts_follow_the_rules():
    seed()

    district_admin = demo_account("demo-district")
    assert district_admin.home_site.code == "DIST"
    assert list(district_admin.site_access.all()) == [district_admin.home_site]
    for account in demo.DEMO_ACCOUNTS[1:]:
        operator = demo_account(account.username)
        assert operator.home_site.code == "AMS"
        assert operator.email
        access = list(operator.site_access.all())
        assert access == ([operator.home_site] if account.level <= Level.LIBRARY_AIDE else [])


def test_seeded_patrons_are_valid_patrons_who_cannot_sign_in():
    seed()

    patron_group = demo.demo_group(Level.PATRON)
    for patron in seeded_patrons():
        patron.full_clean()
        assert patron.security_group == patron_group
        assert not patron.has_usable_password()
        assert patron.version == 1
        assert patron.created_by == demo_account("demo-district")
    statuses = set(seeded_patrons().values_list("status", flat=True))
    assert Patron.Status.ACTIVE in statuses
    assert seeded_patrons().filter(username__isnull=True).count() > 40


def test_history_is_kept_for_every_seeded_patron():
    seed()

    PatronEvent = apps.get_model("patrons", "PatronEvent")
    events = PatronEvent.objects.filter(pgh_label="insert", barcode__regex=demo.BARCODE_PATTERN)
    assert events.count() == 50
    assert {e.pgh_context.metadata["command"] for e in events.select_related("pgh_context")} == {
        "seed_demo"
    }


def test_running_it_again_keeps_sites_and_accounts_and_adds_patrons():
    seed()
    first_barcodes = set(seeded_patrons().values_list("barcode", flat=True))

    output = seed()

    assert Site.objects.filter(code__in=SCHOOL_CODES).count() == 4
    assert Site.objects.filter(parent=None).count() == 1
    assert Patron.objects.filter(username__startswith="demo-").count() == 6
    barcodes = list(seeded_patrons().values_list("barcode", flat=True))
    assert len(barcodes) == len(set(barcodes)) == 100
    assert min(set(barcodes) - first_barcodes) > max(first_barcodes)
    assert "Demo2024! (if unchanged)" in output


def test_an_existing_district_and_administrator_are_used(district_admin):
    root = district_admin.home_site
    ams_before = Site.objects.get(code="AMS")

    seed()

    assert list(Site.objects.filter(parent=None)) == [root]
    assert Site.objects.get(code="AMS") == ams_before
    assert set(Site.objects.filter(parent=root).values_list("code", flat=True)) >= SCHOOL_CODES
    assert demo_account("demo-libadmin").created_by == district_admin


def test_another_root_district_is_used_rather_than_creating_dist():
    north = SiteFactory(code="NORTH", name="North District", kind=Site.Kind.DISTRICT)

    seed(patrons=0)

    assert not Site.objects.filter(code="DIST").exists()
    assert Site.objects.get(code="WHS").parent == north


def test_the_demo_librarian_sees_only_patrons_of_their_sites():
    seed()
    librarian = demo_account("demo-librarian")
    ams = Site.objects.get(code="AMS")

    visible = set(Patron.objects.visible_to(librarian))

    assert visible == set(Patron.objects.filter(home_site=ams))
    assert seeded_patrons().filter(home_site=ams).exists()
    assert seeded_patrons().exclude(home_site=ams).exists()
    assert not policy.can(
        librarian, "patrons.view_patron", seeded_patrons().exclude(home_site=ams).first()
    )


def test_patrons_are_loaded_in_chunks():
    call_command("seed_demo", patrons=7, chunk_size=3, stdout=io.StringIO())

    barcodes = sorted(seeded_patrons().values_list("barcode", flat=True))
    assert barcodes == [f"{demo.BARCODE_PREFIX}{n:09d}" for n in range(1, 8)]


def test_a_negative_count_is_refused():
    with pytest.raises(CommandError):
        call_command("seed_demo", patrons=-1, stdout=io.StringIO())
