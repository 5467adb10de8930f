"""Every named URL x every role -> the status a GET gets. A URL missing from the grid fails
`test_every_named_url_is_in_the_grid`: add it, with what each role must get.

The Django admin has its own test (test_admin.py): District Administrators only.
"""

import uuid
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from fines import services as fines
from fines.models import FeeType, PaymentMethod
from patrons import tabs
from patrons.models import Attachment, ImportFeed, ImportRun
from security.models import Grant, Level
from tests.factories import OperatorFactory, PatronFactory, SecurityGroupFactory

pytestmark = pytest.mark.django_db

ROLES = [
    "anonymous",
    "patron",
    "aide",
    "staff",
    "librarian",
    "library_admin",
    "district_admin",
    "operator_at_other_site",
]
OPERATORS = ROLES[2:]
SIGNED_IN = ROLES[1:]


def row(default, **overrides):
    """Each role's status: `default` unless overridden."""
    return {role: overrides.get(role, default) for role in ROLES}


def signed_in_only(status=200, **overrides):
    return row(status, anonymous=302, **overrides)


def staff_only(status=200, **overrides):
    return row(status, anonymous=302, patron=403, **overrides)


SITES_ADMINS_ONLY = dict.fromkeys(["aide", "staff", "librarian", "operator_at_other_site"], 403)
# security.grant_permission: Library Administrators and District Administrators.
GRANTERS_ONLY = dict.fromkeys(["aide", "staff", "librarian", "operator_at_other_site"], 403)

LOG_READERS_ONLY = dict.fromkeys(["aide", "staff", "librarian", "operator_at_other_site"], 403)
# security.*_securitygroup: Library Administrators and District Administrators.
GROUP_ADMINS_ONLY = dict.fromkeys(["aide", "staff", "librarian", "operator_at_other_site"], 403)
PREFERENCE_EDITORS_ONLY = dict.fromkeys(["aide", "staff"], 403)

GRID = {
    "home": signed_in_only(patron=302),
    "me": signed_in_only(),
    "me_contact": signed_in_only(),  # always the signed-in patron's own: no id to craft
    "me_data": signed_in_only(),
    # Installed (a District Administrator exists): the first-run page is gone.
    "setup": row(404),
    "login": row(302, anonymous=200),
    "logout": row(405),  # sign-out is a POST
    "password_change": signed_in_only(),
    "password_change_done": signed_in_only(),
    "password_reset": row(200),
    "password_reset_done": row(200),
    "password_reset_confirm": row(200),  # an invalid link says so
    "password_reset_complete": row(200),
    # Two-factor sign-in: operators whose level requires it (default: levels 0 and 1), whom
    # force_login signs in with both factors; verify passes everyone else on (to next).
    "two_factor": signed_in_only(404, library_admin=200, district_admin=200),
    "two_factor_verify": row(302),
    "two_factor_setup": signed_in_only(404, library_admin=200, district_admin=200),
    "patrons:list": staff_only(),
    # Bulk work (patrons.import_patrons, export_patrons, merge_patron, edit_access): Librarians
    # and above. An import run is its importer's own: anyone else's is not found.
    "patrons:export": staff_only(aide=403, staff=403),
    "patrons:import": staff_only(aide=403, staff=403),
    "patrons:import_run": staff_only(404, aide=403, staff=403, librarian=200),
    "patrons:import_progress": staff_only(404, aide=403, staff=403, librarian=200),
    "patrons:import_invalid": staff_only(404, aide=403, staff=403, librarian=200),
    "patrons:import_apply": row(405),
    "patrons:import_discard": row(405),
    "patrons:revert_imported": row(405),
    "patrons:merge": staff_only(aide=403, staff=403),
    "patrons:usernames": staff_only(aide=403, staff=403),
    "patrons:photos": staff_only(aide=403, staff=403),
    "patrons:purge": staff_only(403, district_admin=200),
    "patrons:register": staff_only(),
    # The target patron lives at AMS: out of scope for the JES operator -> 404.
    "patrons:delete": staff_only(aide=403, staff=403, operator_at_other_site=404),
    "patrons:record": staff_only(302, operator_at_other_site=404),
    "patrons:tab": staff_only(operator_at_other_site=404),
    "patrons:photo": staff_only(operator_at_other_site=404),
    # An attachment of the AMS patron: served only through the policy.
    "patrons:attachment": staff_only(operator_at_other_site=404),
    "security:working_site": staff_only(),
    "sites:list": staff_only(**SITES_ADMINS_ONLY),
    "sites:create": staff_only(**SITES_ADMINS_ONLY),
    "sites:edit": staff_only(**SITES_ADMINS_ONLY),
    # security.view_operator_log: Library Administrators and District Administrators.
    "security:log": staff_only(**LOG_READERS_ONLY),
    "security:log_export": staff_only(**LOG_READERS_ONLY),
    "security:grants": staff_only(**GRANTERS_ONLY),
    "security:grant_create": staff_only(**GRANTERS_ONLY),
    # A grant at AMS to a Library Staff operator of AMS.
    "security:grant_revoke": staff_only(**GRANTERS_ONLY),
    "security:groups": staff_only(**GROUP_ADMINS_ONLY),
    "security:group_create": staff_only(**GROUP_ADMINS_ONLY),
    # A Library Aide group (4) of AMS: below both administrators, within their scope.
    "security:group": staff_only(**GROUP_ADMINS_ONLY),
    "security:group_delete": staff_only(**GROUP_ADMINS_ONLY),
    # POST only, from the group page's "Delegated to" section (test_delegations.py).
    "security:delegation_create": row(405),
    "security:delegation_revoke": row(405),
    # District Administrators only, on another person: here the Library Staff grantee.
    "security:two_factor_reset": staff_only(403, district_admin=200),
    # security.manage_preferences: Librarians and above, whatever their sites.
    "preferences:edit": staff_only(**PREFERENCE_EDITORS_ONLY),
    # fines.pay_fee: every default staff group.
    "fines:cash": staff_only(),
    # fines.waive_fee: Librarians and above.
    "fines:cash_report": staff_only(aide=403, staff=403),
    # A card payment of the AMS patron, taken by the AMS Librarian: for those who see the
    # patron's fees (or took it), within the receipt site's scope.
    "fines:receipt": row(200, anonymous=302, patron=404, operator_at_other_site=404),
    # A transfer of the AMS patron's fee: for those who may transfer fees and see the patron.
    "fines:bursar_csv": staff_only(aide=403, staff=403, operator_at_other_site=404),
    "preferences:list": staff_only(**PREFERENCE_EDITORS_ONLY),
}


# Every registered record tab (patrons.tabs) x every role, on a patron of AMS: out of scope
# for the JES operator. A registered tab missing here fails test_every_tab_is_in_the_grid.
TAB_GRID = {
    "personal": staff_only(operator_at_other_site=404),
    "contact": staff_only(operator_at_other_site=404),
    "access": staff_only(operator_at_other_site=404),
    "attachments": staff_only(operator_at_other_site=404),
    "statistics": staff_only(operator_at_other_site=404),
    "programs": staff_only(operator_at_other_site=404),
    "proxies": staff_only(operator_at_other_site=404),
    "notes": staff_only(operator_at_other_site=404),
    "blocks": staff_only(operator_at_other_site=404),
    "identifiers": staff_only(operator_at_other_site=404),
    "history": staff_only(operator_at_other_site=404),
    "fines": staff_only(operator_at_other_site=404),
}


def url_kwargs(name, objects):
    return {
        "sites:edit": {"pk": objects["ams"].pk},
        "security:grant_revoke": {"pk": objects["grant"].pk},
        "security:group": {"pk": objects["group"].pk},
        "security:group_delete": {"pk": objects["group"].pk},
        "security:delegation_create": {"pk": objects["group"].pk},
        # A GET is refused before any lookup: no delegation needs to exist.
        "security:delegation_revoke": {"pk": objects["group"].pk, "delegation_id": 1},
        "security:two_factor_reset": {"pk": objects["grant"].operator_id},
        "patrons:record": {"pk": objects["target"].pk},
        "patrons:delete": {"pk": objects["target"].pk},
        "patrons:photo": {"pk": objects["target"].pk},
        "patrons:attachment": {
            "pk": objects["target"].pk,
            "attachment_id": objects["attachment"].pk,
        },
        "patrons:tab": {"pk": objects["target"].pk, "tab": "personal"},
        "password_reset_confirm": {"uidb64": "MQ", "token": "invalid-token"},
        "preferences:list": {"slug": "note-types"},
        "patrons:import_run": {"run_id": objects["run"].pk},
        "patrons:import_progress": {"run_id": objects["run"].pk},
        "patrons:import_invalid": {"run_id": objects["run"].pk},
        "patrons:import_apply": {"run_id": objects["run"].pk},
        "patrons:import_discard": {"run_id": objects["run"].pk},
        "patrons:revert_imported": {"pk": objects["target"].pk, "field": "last_name"},
        "fines:receipt": {"pk": objects["receipt"].pk},
        "fines:bursar_csv": {"pk": objects["export"].pk},
    }.get(name, {})


def fines_of(patron, librarian, site):
    """A receipt of a card payment and a transfer to the bursar, both of `patron`."""
    lost = FeeType.objects.get(code="LOST")
    fees = [
        fines.fee_add(
            actor=librarian,
            patron=patron,
            key=uuid.uuid4(),
            fee_type=lost,
            owner_site=site,
            amount=Decimal("4.00"),
        )
        for _ in range(2)
    ]
    paid = fines.fees_pay(
        actor=librarian,
        patron=patron,
        key=uuid.uuid4(),
        fee_ids=[fees[0].pk],
        method=PaymentMethod.objects.get(code="CARD"),
        site=site,
    )
    sent = fines.fees_transfer(
        actor=librarian, patron=patron, key=uuid.uuid4(), fee_ids=[fees[1].pk]
    )
    return paid.receipt, sent.export


def named_urls(patterns=None, namespace=""):
    names = set()
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace == "admin":
                continue
            prefix = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            names |= named_urls(pattern.url_patterns, prefix)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.add(namespace + pattern.name)
    return names


def test_every_named_url_is_in_the_grid():
    assert named_urls() == set(GRID)


@pytest.mark.parametrize("name", sorted(GRID))
def test_url_grid(client, roles, ams, name, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    target = PatronFactory(home_site=ams)
    target.photo.save("photo.png", ContentFile(b"\x89PNG\r\n\x1a\n"), save=True)
    grant = Grant.objects.create(
        operator=OperatorFactory(level=Level.LIBRARY_STAFF, home_site=ams),
        permission=Permission.objects.get(codename="edit_notes"),
        site=ams,
    )
    group = SecurityGroupFactory(name="AMS Aides", level=Level.LIBRARY_AIDE, owner_site=ams)
    attachment = Attachment(
        patron=target, file_name="form.pdf", content_type="application/pdf", size=9
    )
    attachment.file.save("form.pdf", ContentFile(b"%PDF-1.4\n"), save=True)
    receipt, export = fines_of(target, roles["librarian"], ams)
    run = ImportRun.objects.create(
        operator=roles["librarian"],
        feed=ImportFeed.objects.create(name="Student roll"),
        file_name="roll.csv",
        match_on=ImportRun.MatchOn.BARCODE,
        status=ImportRun.Status.STAGED,
    )
    objects = {
        "run": run,
        "receipt": receipt,
        "export": export,
        "ams": ams,
        "target": target,
        "grant": grant,
        "group": group,
        "attachment": attachment,
    }
    url = reverse(name, kwargs=url_kwargs(name, objects))
    got = {}
    for role in ROLES:
        client.logout()
        if role != "anonymous":
            client.force_login(roles[role])
        got[role] = client.get(url).status_code
    assert got == GRID[name]


def test_every_tab_is_in_the_grid():
    assert {tab.slug for tab in tabs.all_tabs()} == set(TAB_GRID)


@pytest.mark.parametrize("slug", sorted(TAB_GRID))
def test_tab_grid(client, roles, ams, slug):
    target = PatronFactory(home_site=ams)
    url = reverse("patrons:tab", kwargs={"pk": target.pk, "tab": slug})
    got = {}
    for role in ROLES:
        client.logout()
        if role != "anonymous":
            client.force_login(roles[role])
        got[role] = client.get(url).status_code
    assert got == TAB_GRID[slug]


def test_a_site_outside_scope_is_not_found_not_forbidden(client, library_admin, jes, ams):
    client.force_login(library_admin)
    assert client.get(reverse("sites:edit", kwargs={"pk": ams.pk})).status_code == 200
    assert client.get(reverse("sites:edit", kwargs={"pk": jes.pk})).status_code == 404


# Crafted POSTs to every registered tab, by those who may not write it: a patron of another
# school's operator (not found), a patron (no staff side) and a Library Aide (no tab edit
# permission, except where a tab has none: History answers 403 to every POST). Anonymous
# posts go to the sign-in page. Nothing is ever written, and nothing answers 500.
POST_GRID = {
    "anonymous": 302,
    "patron": 403,
    "operator_at_other_site": 404,
    "aide": 403,
}
# A Library Aide takes payments on the Fines tab: a POST that names none of its forms is
# a bad request (its forms' own refusals are in tests/fines/test_fines_tab.py).
POST_GRID_EXCEPTIONS = {"fines": {"aide": 400}}


@pytest.mark.parametrize("slug", sorted(TAB_GRID))
def test_crafted_posts_to_every_tab_write_nothing(client, roles, ams, slug):
    from django.db import connection

    target = PatronFactory(home_site=ams)
    url = reverse("patrons:tab", kwargs={"pk": target.pk, "tab": slug})
    data = {"version": target.version, "last_name": "Crafted", "text": "x", "delete": "1"}
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM patrons_patronevent")
        events_before = cursor.fetchone()[0]
    got = {}
    for role in POST_GRID:
        client.logout()
        if role != "anonymous":
            client.force_login(roles[role])
        got[role] = client.post(url, data).status_code
    assert got == POST_GRID | POST_GRID_EXCEPTIONS.get(slug, {})
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM patrons_patronevent")
        assert cursor.fetchone()[0] == events_before
    target.refresh_from_db()
    assert target.last_name != "Crafted"
