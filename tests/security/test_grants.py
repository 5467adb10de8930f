"""Explicit grants (rule 7, Evergreen's User Permission Editor, tightened): who may give
which permission to whom and where, the pages that list, give and revoke them, crafted
requests refused with nothing changed, and bounded queries."""

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from patrons.models import Patron
from security import policy
from security import services as security_services
from security.forms.grants import NO_OPERATOR_FOUND, NOTHING_TO_GIVE
from security.models import Grant, Level, OperatorAction
from tests.factories import OperatorFactory, PatronFactory, SiteFactory

pytestmark = pytest.mark.django_db

EDIT_ACCESS = "patrons.edit_access"
EDIT_NOTES = "patrons.edit_notes"
LIST_URL = reverse("security:grants")
CREATE_URL = reverse("security:grant_create")


def perm(name: str) -> Permission:
    app_label, codename = name.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def grantable(operator, *names: str) -> None:
    """Let the operator's group pass exactly these permissions on (none: nothing)."""
    operator.security_group.grantable_permissions.set([perm(name) for name in names])
    policy.forget(operator)


def give(operator, name: str, site, granted_by=None) -> Grant:
    """A grant written directly, whoever may give it (the state under test, not the act)."""
    grant = Grant.objects.create(
        operator=operator, permission=perm(name), site=site, granted_by=granted_by
    )
    policy.forget(operator)
    return grant


def revoke_url(grant: Grant) -> str:
    return reverse("security:grant_revoke", kwargs={"pk": grant.pk})


def fresh(patron) -> Patron:
    return Patron.objects.select_related("security_group").get(pk=patron.pk)


@pytest.fixture
def granter(library_admin):
    """A Library Administrator at AMS whose group may pass on edit_access and edit_notes."""
    grantable(library_admin, EDIT_ACCESS, EDIT_NOTES)
    return library_admin


# --- the rule: security.policy.can_grant, both sides of every condition -------------------


def test_a_granter_gives_a_grantable_permission_at_their_site_to_an_operator_below(
    granter, staff, ams, ams_branch
):
    assert policy.can_grant(granter, EDIT_ACCESS, ams, staff)
    assert policy.can_grant(granter, EDIT_ACCESS, ams_branch, staff)  # descendants too


def test_not_holding_grant_permission(librarian, aide, ams):
    grantable(librarian, EDIT_ACCESS)  # Librarians hold edit_access, not grant_permission
    assert not policy.can_grant(librarian, EDIT_ACCESS, ams, aide)
    librarian.security_group.permissions.add(perm(policy.GRANT_PERMISSION))
    policy.forget(librarian)
    assert policy.can_grant(librarian, EDIT_ACCESS, ams, aide)


def test_library_administrators_pass_on_patrons_permissions_out_of_the_box(
    library_admin, staff, ams
):
    assert policy.can_grant(library_admin, EDIT_ACCESS, ams, staff)
    assert not policy.can_grant(library_admin, "sites.change_site", ams, staff)  # held


def test_the_permission_must_be_grantable(library_admin, staff, ams):
    grantable(library_admin)
    assert not policy.can_grant(library_admin, EDIT_ACCESS, ams, staff)  # held, not grantable
    grantable(library_admin, EDIT_ACCESS)
    assert policy.can_grant(library_admin, EDIT_ACCESS, ams, staff)
    assert not policy.can_grant(library_admin, "sites.change_site", ams, staff)


def test_a_permission_held_only_through_a_grant_is_not_grantable(granter, staff, ams):
    give(granter, "security.view_operator_log", ams)
    assert not policy.can_grant(granter, "security.view_operator_log", ams, staff)


@pytest.mark.parametrize("site_code", ["JES", "DIST"])
def test_only_at_sites_within_own_access(granter, staff, jes, district, site_code):
    site = {"JES": jes, "DIST": district}[site_code]  # DIST is AMS's parent: not in access
    assert not policy.can_grant(granter, EDIT_ACCESS, site, staff)
    with pytest.raises(PermissionDenied, match=policy.GRANT_SITE_OUT_OF_ACCESS):
        policy.require_grant(granter, EDIT_ACCESS, site, staff)


def test_a_grant_of_grant_permission_does_not_widen_where_one_grants(granter, jes):
    give(granter, policy.GRANT_PERMISSION, jes)
    jes_staff = OperatorFactory(level=Level.LIBRARY_STAFF, home_site=jes)
    assert not policy.can_grant(granter, EDIT_ACCESS, jes, jes_staff)


@pytest.mark.parametrize(
    ("level", "allowed"),
    [
        (Level.DISTRICT_ADMINISTRATOR, False),
        (Level.LIBRARY_ADMINISTRATOR, False),
        (Level.LIBRARIAN, True),
        (Level.LIBRARY_STAFF, True),
        (Level.LIBRARY_AIDE, True),
        (Level.PATRON, False),
    ],
)
def test_only_to_operators_strictly_below_own_level(granter, ams, level, allowed):
    recipient = OperatorFactory(level=level, home_site=ams)
    assert policy.can_grant(granter, EDIT_ACCESS, ams, recipient) is allowed


def test_never_to_oneself(granter, ams):
    assert not policy.can_grant(granter, EDIT_ACCESS, ams, granter)


def test_a_patron_is_refused_as_a_patron(granter, patron, ams):
    with pytest.raises(PermissionDenied, match=policy.GRANTEE_NOT_OPERATOR):
        policy.require_grant(granter, EDIT_ACCESS, ams, patron)


def test_the_recipient_must_be_within_the_granters_scope(granter, ams, ams_branch, jes):
    outsider = OperatorFactory(level=Level.LIBRARY_STAFF, home_site=jes)
    assert not policy.can_grant(granter, EDIT_ACCESS, ams, outsider)
    branch_staff = OperatorFactory(level=Level.LIBRARY_STAFF, home_site=ams_branch)
    assert policy.can_grant(granter, EDIT_ACCESS, ams, branch_staff)


def test_a_district_administrator_gives_anything_anywhere_below_level_0(district_admin, jes):
    jes_admin = OperatorFactory(level=Level.LIBRARY_ADMINISTRATOR, home_site=jes)
    assert policy.can_grant(district_admin, "sites.change_site", jes, jes_admin)
    other_da = OperatorFactory(level=Level.DISTRICT_ADMINISTRATOR, home_site=jes)
    assert not policy.can_grant(district_admin, "sites.change_site", jes, other_da)


def test_an_inactive_or_anonymous_granter_gives_nothing(granter, staff, ams, anonymous):
    assert not policy.can_grant(anonymous, EDIT_ACCESS, ams, staff)
    granter.status = Patron.Status.SUSPENDED
    granter.save()
    assert not policy.can_grant(fresh(granter), EDIT_ACCESS, ams, staff)


# --- revoking: the same conditions, except that the permission need not be grantable -------


def test_revoking_needs_no_grantable_permission(library_admin, staff, ams):
    grant = give(staff, "sites.change_site", ams)
    assert policy.can_revoke_grant(library_admin, grant)


@pytest.mark.parametrize(
    ("holder_level", "site_code", "allowed"),
    [
        (Level.LIBRARY_STAFF, "AMS", True),
        (Level.PATRON, "AMS", True),  # a demoted holder's leftover grant can still go
        (Level.LIBRARY_ADMINISTRATOR, "AMS", False),
        (Level.LIBRARY_STAFF, "JES", False),
    ],
)
def test_who_may_revoke(library_admin, ams, jes, holder_level, site_code, allowed):
    holder = OperatorFactory(level=holder_level, home_site=ams)
    grant = give(holder, EDIT_NOTES, {"AMS": ams, "JES": jes}[site_code])
    assert policy.can_revoke_grant(library_admin, grant) is allowed


def test_revoking_needs_grant_permission_and_the_holder_in_scope(librarian, staff, ams, jes):
    assert not policy.can_revoke_grant(librarian, give(staff, EDIT_NOTES, ams))
    outsider = OperatorFactory(level=Level.LIBRARY_STAFF, home_site=jes)
    admin = OperatorFactory(level=Level.LIBRARY_ADMINISTRATOR, home_site=ams)
    assert not policy.can_revoke_grant(admin, give(outsider, EDIT_NOTES, ams))


# --- services -------------------------------------------------------------------------------


def test_grant_create_gives_and_logs(granter, staff, ams):
    patron_at_ams = PatronFactory(home_site=ams)
    assert not staff.has_perm(EDIT_ACCESS, patron_at_ams)
    grant = security_services.grant_create(
        actor=granter, operator=staff, permission=perm(EDIT_ACCESS), site=ams
    )
    assert (grant.operator, grant.granted_by, grant.site) == (staff, granter, ams)
    assert staff.has_perm(EDIT_ACCESS, patron_at_ams)
    entry = OperatorAction.objects.get(action=OperatorAction.Kind.GRANT_CREATED)
    assert (entry.operator, entry.patron, entry.site) == (granter, staff, ams)
    assert entry.details == {"permission": EDIT_ACCESS, "kind": Grant.Kind.ADDS}


def test_grant_create_refuses_a_duplicate(granter, staff, ams):
    arguments = {"actor": granter, "operator": staff, "permission": perm(EDIT_ACCESS), "site": ams}
    security_services.grant_create(**arguments)
    with pytest.raises(ValidationError, match=security_services.GRANT_EXISTS):
        security_services.grant_create(**arguments)
    assert Grant.objects.count() == 1
    assert OperatorAction.objects.filter(action=OperatorAction.Kind.GRANT_CREATED).count() == 1


def test_grant_create_checks_the_recipients_group_as_saved(granter, staff, ams):
    """A stale copy of the recipient does not get past the level rule."""
    Patron.objects.filter(pk=staff.pk).update(security_group=granter.security_group)
    with pytest.raises(PermissionDenied, match=policy.GRANTEE_NOT_BELOW):
        security_services.grant_create(
            actor=granter, operator=staff, permission=perm(EDIT_ACCESS), site=ams
        )
    assert not Grant.objects.exists()


def test_grant_revoke_takes_back_and_logs(granter, staff, ams):
    grant = give(staff, EDIT_ACCESS, ams, granted_by=granter)
    security_services.grant_revoke(actor=granter, grant=grant)
    assert not Grant.objects.exists()
    assert not fresh(staff).has_perm(EDIT_ACCESS, PatronFactory(home_site=ams))
    entry = OperatorAction.objects.get(action=OperatorAction.Kind.GRANT_REVOKED)
    assert (entry.operator, entry.patron, entry.site) == (granter, staff, ams)
    assert entry.details == {"permission": EDIT_ACCESS}


def test_grant_revoke_refused_changes_nothing(librarian, staff, ams):
    grant = give(staff, EDIT_ACCESS, ams)
    with pytest.raises(PermissionDenied):
        security_services.grant_revoke(actor=librarian, grant=grant)
    assert Grant.objects.filter(pk=grant.pk).exists()
    assert not OperatorAction.objects.filter(action=OperatorAction.Kind.GRANT_REVOKED).exists()


# --- the list -----------------------------------------------------------------------------


def test_the_list_shows_grants_at_sites_within_the_operators_access(
    client, granter, staff, ams, ams_branch, jes
):
    at_ams = give(staff, EDIT_ACCESS, ams, granted_by=granter)
    at_branch = give(staff, EDIT_NOTES, ams_branch)
    at_jes = give(OperatorFactory(level=Level.LIBRARY_STAFF, home_site=jes), EDIT_NOTES, jes)
    client.force_login(granter)
    response = client.get(LIST_URL)
    assert response.status_code == 200
    assert {row.grant for row in response.context["rows"]} == {at_ams, at_branch}
    page = response.content.decode()
    assert perm(EDIT_ACCESS).name in page and staff.display_name in page
    assert granter.display_name in page and ams_branch.name in page
    assert revoke_url(at_ams) in page and revoke_url(at_jes) not in page


def test_a_district_administrator_sees_every_grant(client, district_admin, staff, jes):
    give(staff, EDIT_NOTES, staff.home_site)
    give(OperatorFactory(level=Level.LIBRARY_STAFF, home_site=jes), EDIT_NOTES, jes)
    client.force_login(district_admin)
    assert len(client.get(LIST_URL).context["rows"]) == 2


def test_revoke_is_offered_only_where_allowed(client, granter, ams):
    peer = OperatorFactory(level=Level.LIBRARY_ADMINISTRATOR, home_site=ams)
    peer_grant = give(peer, EDIT_NOTES, ams)
    client.force_login(granter)
    (row,) = client.get(LIST_URL).context["rows"]
    assert row.grant == peer_grant and not row.can_revoke


def test_the_list_runs_the_same_queries_with_3_or_30_grants(
    client, granter, ams, django_assert_max_num_queries
):
    client.force_login(granter)
    _grants_at_new_sites(granter, ams, 3)
    with django_assert_max_num_queries(10) as few:
        client.get(LIST_URL)
    _grants_at_new_sites(granter, ams, 27)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(LIST_URL)
    assert len(response.context["rows"]) == 30


def _grants_at_new_sites(granter, parent, count):
    for _ in range(count):
        site = SiteFactory(parent=parent)
        operator = OperatorFactory(level=Level.LIBRARY_STAFF, home_site=site)
        give(operator, EDIT_NOTES, site, granted_by=granter)


# --- giving one: the form -------------------------------------------------------------------


def form_data(recipient="staff", permission=EDIT_ACCESS, site=None, **changes):
    return {"operator": recipient, "permission": perm(permission).pk, "site": site.pk} | changes


def test_the_form_offers_only_what_the_granter_may_give(client, granter, ams, ams_branch):
    client.force_login(granter)
    response = client.get(CREATE_URL)
    assert response.status_code == 200
    fields = response.context["form"].fields
    offered = [
        label for _, choices in fields["permission"].widget.choices[1:] for _, label in choices
    ]
    addable = [label for label in offered if not label.endswith(" (to limit only)")]
    assert sorted(addable) == sorted([perm(EDIT_ACCESS).name, perm(EDIT_NOTES).name])
    assert f"{perm('sites.change_site').name} (to limit only)" in offered  # held, not grantable
    sites = [label for value, label in fields["site"].widget.choices if value]
    assert sites == [str(ams), str(ams_branch)]


def test_a_district_administrator_is_offered_libstaff_permissions_not_history_rows(
    client, district_admin
):
    client.force_login(district_admin)
    choices = client.get(CREATE_URL).context["form"].fields["permission"].widget.choices[1:]
    offered = {pk for _, options in choices for pk, _ in options}
    assert perm("sites.change_site").pk in offered
    assert perm("sessions.change_session").pk not in offered
    assert perm("patrons.change_patronevent").pk not in offered


@pytest.mark.parametrize("lookup", ["username", "barcode", "upper_username"])
def test_giving_a_permission_by_username_or_barcode(client, granter, staff, ams, lookup):
    text = {
        "username": staff.username,
        "barcode": staff.barcode,
        "upper_username": staff.username.upper(),
    }[lookup]
    client.force_login(granter)
    response = client.post(CREATE_URL, form_data(text, site=ams), follow=True)
    assert response.redirect_chain == [(LIST_URL, 302)]
    grant = Grant.objects.get()
    assert (grant.operator, grant.permission, grant.site) == (staff, perm(EDIT_ACCESS), ams)
    assert "Given to" in response.content.decode()


def test_the_recipient_field_can_be_prefilled(client, granter):
    client.force_login(granter)
    response = client.get(CREATE_URL, {"operator": "staff"})
    assert response.context["form"]["operator"].value() == "staff"


def test_an_unknown_and_an_out_of_scope_recipient_look_the_same(client, granter, ams, jes):
    OperatorFactory(username="jesstaff", level=Level.LIBRARY_STAFF, home_site=jes)
    client.force_login(granter)
    errors = {}
    for text in ("jesstaff", "nobody"):
        response = client.post(CREATE_URL, form_data(text, site=ams))
        assert response.status_code == 422
        errors[text] = response.context["form"].errors["operator"]
    assert errors == {
        "jesstaff": [NO_OPERATOR_FOUND.format(text="jesstaff")],
        "nobody": [NO_OPERATOR_FOUND.format(text="nobody")],
    }
    assert not Grant.objects.exists()


@pytest.mark.parametrize(
    ("level", "message"),
    [
        (Level.PATRON, policy.GRANTEE_NOT_OPERATOR),
        (Level.LIBRARY_ADMINISTRATOR, policy.GRANTEE_NOT_BELOW),
        (Level.DISTRICT_ADMINISTRATOR, policy.GRANTEE_NOT_BELOW),
    ],
)
def test_a_recipient_in_scope_but_not_below_is_told_why(client, granter, ams, level, message):
    OperatorFactory(username="someone", level=level, home_site=ams)
    client.force_login(granter)
    response = client.post(CREATE_URL, form_data("someone", site=ams))
    assert response.status_code == 422
    assert response.context["form"].errors["operator"] == [message]
    assert not Grant.objects.exists()


def test_oneself_is_refused(client, granter, ams):
    client.force_login(granter)
    response = client.post(CREATE_URL, form_data(granter.username, site=ams))
    assert response.context["form"].errors["operator"] == [policy.GRANTEE_NOT_BELOW]


def test_a_duplicate_is_refused_next_to_the_form(client, granter, staff, ams):
    give(staff, EDIT_ACCESS, ams)
    client.force_login(granter)
    response = client.post(CREATE_URL, form_data(site=ams))
    assert response.status_code == 422
    assert response.context["form"].non_field_errors() == [security_services.GRANT_EXISTS]
    assert Grant.objects.count() == 1


@pytest.mark.parametrize(
    ("permission", "site_code"),
    [
        ("admin.change_logentry", "AMS"),  # not held at all
        (EDIT_ACCESS, "JES"),  # grantable, at a site outside the granter's access
        (EDIT_ACCESS, "DIST"),  # the parent of the granter's site
    ],
)
def test_crafted_permission_or_site_is_403_and_nothing_changes(
    client, granter, staff, ams, jes, district, permission, site_code
):
    site = {"AMS": ams, "JES": jes, "DIST": district}[site_code]
    client.force_login(granter)
    response = client.post(CREATE_URL, form_data(permission=permission, site=site))
    assert response.status_code == 403
    assert not Grant.objects.exists()
    assert not OperatorAction.objects.filter(action=OperatorAction.Kind.GRANT_CREATED).exists()


def test_a_held_permission_that_is_not_grantable_is_refused_next_to_the_field(
    client, granter, staff, ams
):
    """Offered "to limit only" (tests/security/test_narrowing_grants.py): it cannot add."""
    client.force_login(granter)
    response = client.post(CREATE_URL, form_data(permission="sites.change_site", site=ams))
    assert response.status_code == 422
    assert response.context["form"].errors["permission"] == [policy.GRANT_NOT_GRANTABLE]
    assert not Grant.objects.exists()


@pytest.mark.parametrize("role", ["librarian", "staff", "aide", "patron"])
def test_a_non_granter_cannot_post(client, roles, ams, role):
    client.force_login(roles[role])
    response = client.post(
        CREATE_URL, form_data("aide", permission="patrons.view_patron", site=ams)
    )
    assert response.status_code == 403
    assert not Grant.objects.exists()


def test_the_form_page_runs_a_bounded_number_of_queries(
    client, district_admin, ams, django_assert_max_num_queries
):
    for _ in range(20):
        SiteFactory(parent=ams)
    client.force_login(district_admin)
    with django_assert_max_num_queries(10):
        response = client.get(CREATE_URL)
    assert len(response.context["form"].fields["site"].widget.choices) > 20


# --- taking one back ------------------------------------------------------------------------


def test_revoke_asks_for_confirmation_then_revokes_on_post(client, granter, staff, ams):
    grant = give(staff, EDIT_ACCESS, ams)
    client.force_login(granter)
    confirmation = client.get(revoke_url(grant))
    assert confirmation.status_code == 200
    assert "Revoke this permission?" in confirmation.content.decode()
    assert Grant.objects.filter(pk=grant.pk).exists()
    response = client.post(revoke_url(grant), follow=True)
    assert response.redirect_chain == [(LIST_URL, 302)]
    assert "Revoked from" in response.content.decode()
    assert not Grant.objects.exists()
    assert OperatorAction.objects.filter(action=OperatorAction.Kind.GRANT_REVOKED).count() == 1


def test_crafted_revokes_are_refused_and_nothing_changes(client, granter, librarian, ams, jes):
    outside = give(OperatorFactory(level=Level.LIBRARY_STAFF, home_site=jes), EDIT_NOTES, jes)
    peer = give(OperatorFactory(level=Level.LIBRARY_ADMINISTRATOR, home_site=ams), EDIT_NOTES, ams)
    mine = give(OperatorFactory(level=Level.LIBRARY_STAFF, home_site=ams), EDIT_NOTES, ams)
    client.force_login(granter)
    assert client.post(revoke_url(outside)).status_code == 404  # not seen: not confirmed
    assert client.post(revoke_url(peer)).status_code == 403
    assert client.post(reverse("security:grant_revoke", kwargs={"pk": 0})).status_code == 404
    client.force_login(librarian)
    assert client.post(revoke_url(mine)).status_code == 403
    assert Grant.objects.count() == 3
    assert not OperatorAction.objects.filter(action=OperatorAction.Kind.GRANT_REVOKED).exists()


def test_the_revoke_page_runs_a_bounded_number_of_queries(
    client, granter, staff, ams, django_assert_max_num_queries
):
    grant = give(staff, EDIT_NOTES, ams)
    client.force_login(granter)
    with django_assert_max_num_queries(9):
        assert client.get(revoke_url(grant)).status_code == 200


def test_a_granter_whose_group_passes_nothing_on_is_told_so(client, library_admin):
    grantable(library_admin)
    client.force_login(library_admin)
    response = client.get(CREATE_URL)
    assert NOTHING_TO_GIVE in response.content.decode()
