"""Narrowing grants (rule 7, Evergreen's locally assigned permissions): a grant that limits
a permission the operator's security group gives them to one site and its branches. Both
sides of every boundary: what the limited operator sees and changes (policy and HTTP),
scope() agreeing with can(), who may give a limit, taking it back, and the words the
grants pages use."""

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from patrons.models import Patron
from security import grant_selectors, policy
from security import services as security_services
from security.forms.grants import KIND_CHOICES
from security.models import Grant, Level
from sites.models import Site
from tests.factories import OperatorFactory, PatronFactory, SiteFactory

pytestmark = pytest.mark.django_db

VIEW = "patrons.view_patron"
EDIT_PERSONAL = "patrons.edit_personal"
EDIT_ACCESS = "patrons.edit_access"  # not given to Library Staff
EDIT_NOTES = "patrons.edit_notes"
LIMITS, ADDS = Grant.Kind.LIMITS, Grant.Kind.ADDS
CREATE_URL = reverse("security:grant_create")
LIST_URL = reverse("security:grants")


def perm(name: str) -> Permission:
    app_label, codename = name.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def fresh(patron) -> Patron:
    """The patron as saved, with nothing cached (the policy's facts are loaded again)."""
    return Patron.objects.select_related("security_group").get(pk=patron.pk)


def give(operator, name: str, site, kind=LIMITS) -> Grant:
    """A grant written directly (the state under test, not the act of giving it)."""
    return Grant.objects.create(operator=operator, permission=perm(name), site=site, kind=kind)


@pytest.fixture
def all_sites_admin(district):
    """A Library Administrator of the whole district: one whose grant sites cover Zoë's
    access, as a limit on her requires (policy.LIMIT_BEYOND_ACCESS)."""
    return OperatorFactory(
        username="districtlibadmin", level=Level.LIBRARY_ADMINISTRATOR, home_site=district
    )


@pytest.fixture
def lincoln(district):
    return SiteFactory(code="LIN", name="Lincoln High School", parent=district)


@pytest.fixture
def zoe(ams, jes):
    """A Library Staff member with access to AMS and JES."""
    return OperatorFactory(
        username="zoe",
        first_name="Zoë",
        last_name="Ng",
        level=Level.LIBRARY_STAFF,
        home_site=ams,
        site_access=[ams, jes],
    )


@pytest.fixture
def people(ams, ams_branch, jes, lincoln):
    """A patron at each site."""
    return {site.code: PatronFactory(home_site=site) for site in (ams, ams_branch, jes, lincoln)}


def limit(actor, operator, name, site, kind=LIMITS) -> Grant:
    return security_services.grant_create(
        actor=actor, operator=operator, permission=perm(name), site=site, kind=kind
    )


def visible_codes(operator, action=VIEW) -> set[str]:
    return set(policy.scope(operator, action, Patron).values_list("home_site__code", flat=True))


def allowed_codes(operator, people, action=VIEW) -> set[str]:
    return {code for code, patron in people.items() if policy.can(operator, action, patron)}


# --- what a limit does ----------------------------------------------------------------------


def test_a_limit_to_a_site_covers_its_branches_and_nothing_else(all_sites_admin, zoe, ams, people):
    assert visible_codes(zoe) == {"AMS", "AMSB", "JES"}  # before: their whole access
    limit(all_sites_admin, zoe, VIEW, ams)
    zoe = fresh(zoe)
    assert allowed_codes(zoe, people) == {"AMS", "AMSB"}
    assert visible_codes(zoe) == {"AMS", "AMSB"}


def test_a_limited_operator_opens_records_at_the_site_and_gets_404_elsewhere(
    client, all_sites_admin, zoe, ams, people
):
    limit(all_sites_admin, zoe, VIEW, ams)
    client.force_login(zoe)
    for code, status in {"AMS": 200, "AMSB": 200, "JES": 404, "LIN": 404}.items():
        url = reverse("patrons:record", kwargs={"pk": people[code].pk})
        assert client.get(url, follow=True).status_code == status, code


def test_the_patron_list_shows_only_patrons_at_the_limited_site(
    client, all_sites_admin, zoe, ams, people
):
    limit(all_sites_admin, zoe, VIEW, ams)
    client.force_login(zoe)
    response = client.get(reverse("patrons:list"))
    assert response.status_code == 200
    listed = {patron.pk for patron in response.context["page"].rows}
    assert people["AMS"].pk in listed and people["AMSB"].pk in listed
    assert people["JES"].pk not in listed and people["LIN"].pk not in listed
    assert listed <= set(policy.scope(fresh(zoe), VIEW, Patron).values_list("pk", flat=True))


@pytest.mark.parametrize("limited", [VIEW, EDIT_PERSONAL])
@pytest.mark.parametrize("action", [VIEW, EDIT_PERSONAL, EDIT_ACCESS])
def test_scope_agrees_with_can_under_a_limit(all_sites_admin, zoe, ams, people, limited, action):
    PatronFactory(home_site=ams, security_group=zoe.security_group)  # a peer: never changed
    limit(all_sites_admin, zoe, limited, ams)
    zoe = fresh(zoe)
    everyone = Patron.objects.select_related("security_group")
    allowed = {patron.pk for patron in everyone if policy.can(zoe, action, patron)}
    assert set(policy.scope(zoe, action, Patron).values_list("pk", flat=True)) == allowed


def test_limiting_one_permission_leaves_the_others_as_the_group_gives_them(
    all_sites_admin, zoe, ams, people
):
    limit(all_sites_admin, zoe, EDIT_PERSONAL, ams)
    zoe = fresh(zoe)
    assert allowed_codes(zoe, people, EDIT_PERSONAL) == {"AMS", "AMSB"}
    assert visible_codes(zoe, EDIT_PERSONAL) == {"AMS", "AMSB"}
    assert allowed_codes(zoe, people) == {"AMS", "AMSB", "JES"}  # viewing: unchanged
    assert allowed_codes(zoe, people, "patrons.edit_contact") == {"AMS", "AMSB", "JES"}


def test_two_limits_of_one_permission_add_up(library_admin, zoe, ams, jes, lincoln, people):
    zoe.site_access.add(lincoln)
    for site in (ams, jes):
        give(zoe, VIEW, site)
    zoe = fresh(zoe)
    assert visible_codes(zoe) == allowed_codes(zoe, people) == {"AMS", "AMSB", "JES"}


def test_a_grant_that_adds_a_site_still_adds_it_beside_a_limit(
    district_admin, zoe, ams, lincoln, people
):
    limit(district_admin, zoe, VIEW, ams)
    limit(district_admin, zoe, VIEW, lincoln, kind=ADDS)  # Lincoln: outside their access
    zoe = fresh(zoe)
    assert visible_codes(zoe) == allowed_codes(zoe, people) == {"AMS", "AMSB", "LIN"}


def test_a_limit_outside_the_operators_access_leaves_nothing(zoe, lincoln, people):
    give(zoe, VIEW, lincoln)  # their group gives them viewing at AMS and JES, not Lincoln
    zoe = fresh(zoe)
    assert visible_codes(zoe) == allowed_codes(zoe, people) == set()


def test_revoking_the_limit_restores_the_scope(all_sites_admin, zoe, ams, people):
    grant = limit(all_sites_admin, zoe, VIEW, ams)
    assert visible_codes(fresh(zoe)) == {"AMS", "AMSB"}
    security_services.grant_revoke(actor=all_sites_admin, grant=grant)
    zoe = fresh(zoe)
    assert visible_codes(zoe) == allowed_codes(zoe, people) == {"AMS", "AMSB", "JES"}


def test_a_district_administrators_row_limits_nothing(district_admin, ams, people):
    give(district_admin, VIEW, ams)  # written behind the policy's back
    district_admin = fresh(district_admin)
    assert allowed_codes(district_admin, people) == {"AMS", "AMSB", "JES", "LIN"}
    assert visible_codes(district_admin) == {"DIST", "AMS", "AMSB", "JES", "LIN"}


# --- who may give a limit -------------------------------------------------------------------


def test_a_limit_needs_no_grantable_mark(library_admin, librarian, ams):
    library_admin.security_group.grantable_permissions.clear()
    policy.forget(library_admin)
    assert policy.can_grant(library_admin, VIEW, ams, librarian, LIMITS)
    with pytest.raises(PermissionDenied, match=policy.GRANT_NOT_GRANTABLE):
        policy.require_grant(library_admin, VIEW, ams, librarian, ADDS)
    grant = limit(library_admin, librarian, VIEW, ams)
    assert (grant.kind, grant.granted_by) == (LIMITS, library_admin)


def test_a_limit_needs_grant_permission_at_the_site(library_admin, librarian, staff, ams, jes):
    with pytest.raises(PermissionDenied, match=policy.GRANT_SITE_OUT_OF_ACCESS):
        policy.require_grant(library_admin, VIEW, jes, staff, LIMITS)
    assert not policy.can_grant(librarian, VIEW, ams, staff, LIMITS)  # no grant_permission


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
def test_a_limit_is_for_operators_strictly_below(library_admin, ams, level, allowed):
    recipient = OperatorFactory(level=level, home_site=ams)
    assert policy.can_grant(library_admin, VIEW, ams, recipient, LIMITS) is allowed


def test_a_district_administrator_can_never_be_limited(district_admin, ams, district):
    other = OperatorFactory(level=Level.DISTRICT_ADMINISTRATOR, home_site=district)
    with pytest.raises(PermissionDenied, match=policy.GRANTEE_NOT_BELOW):
        policy.require_grant(district_admin, VIEW, ams, other, LIMITS)
    with pytest.raises(PermissionDenied, match=policy.GRANTEE_NOT_BELOW):
        policy.require_grant(district_admin, VIEW, ams, district_admin, LIMITS)


def test_a_permission_the_group_does_not_give_cannot_be_limited(library_admin, zoe, ams):
    message = policy.NOTHING_TO_LIMIT.format(name="Zoë Ng")
    with pytest.raises(PermissionDenied, match=message):
        policy.require_grant(library_admin, EDIT_ACCESS, ams, zoe, LIMITS)
    give(zoe, EDIT_ACCESS, ams, kind=ADDS)  # held through a grant: still not the group's
    assert not policy.can_grant(library_admin, EDIT_ACCESS, ams, fresh(zoe), LIMITS)
    assert policy.can_grant(library_admin, EDIT_ACCESS, ams, zoe, ADDS)  # adding: grantable


# --- the form -------------------------------------------------------------------------------


def form_data(permission=VIEW, site=None, kind=LIMITS, recipient="zoe"):
    return {"operator": recipient, "permission": perm(permission).pk, "site": site.pk} | (
        {"kind": kind} if kind is not None else {}
    )


def test_the_form_offers_both_kinds_adding_by_default(client, library_admin):
    client.force_login(library_admin)
    response = client.get(CREATE_URL)
    form = response.context["form"]
    assert form["kind"].value() == ADDS
    page = response.content.decode()
    for value, label in KIND_CHOICES:
        assert label in page and f'value="{value}"' in page


def test_the_form_marks_permissions_that_can_only_be_limited(client, library_admin):
    library_admin.security_group.grantable_permissions.set([perm(EDIT_NOTES)])
    client.force_login(library_admin)
    choices = client.get(CREATE_URL).context["form"].fields["permission"].widget.choices[1:]
    labels = {pk: label for _, options in choices for pk, label in options}
    assert labels[perm(EDIT_NOTES).pk] == perm(EDIT_NOTES).name
    limit_only = grant_selectors.LIMIT_ONLY.format(label=perm(VIEW).name)
    assert labels[perm(VIEW).pk] == limit_only  # held by the group, not grantable
    assert perm("admin.change_logentry").pk not in labels


def test_limiting_through_the_form(client, all_sites_admin, zoe, ams, people):
    client.force_login(all_sites_admin)
    response = client.post(CREATE_URL, form_data(site=ams), follow=True)
    assert response.redirect_chain == [(LIST_URL, 302)]
    grant = Grant.objects.get()
    assert (grant.operator, grant.permission, grant.site, grant.kind) == (
        zoe,
        perm(VIEW),
        ams,
        LIMITS,
    )
    page = response.content.decode()
    assert "Zoë Ng may find and view patrons only at Adams Middle School" in page
    assert visible_codes(fresh(zoe)) == {"AMS", "AMSB"}


def test_a_form_without_a_kind_adds(client, library_admin, zoe, ams):
    client.force_login(library_admin)
    client.post(CREATE_URL, form_data(EDIT_ACCESS, site=ams, kind=None))
    assert Grant.objects.get().kind == ADDS


def test_nothing_to_limit_is_told_next_to_the_permission(client, library_admin, zoe, ams):
    client.force_login(library_admin)
    response = client.post(CREATE_URL, form_data(EDIT_ACCESS, site=ams))
    assert response.status_code == 422
    message = policy.NOTHING_TO_LIMIT.format(name=zoe.display_name)
    assert response.context["form"].errors["permission"] == [message]
    assert not Grant.objects.exists()


def test_adding_a_limit_only_permission_is_told_next_to_the_permission(
    client, library_admin, zoe, ams
):
    library_admin.security_group.grantable_permissions.set([perm(EDIT_NOTES)])
    client.force_login(library_admin)
    response = client.post(CREATE_URL, form_data(VIEW, site=ams, kind=ADDS))
    assert response.status_code == 422
    assert response.context["form"].errors["permission"] == [policy.GRANT_NOT_GRANTABLE]
    assert not Grant.objects.exists()


@pytest.mark.parametrize(
    ("granter_role", "site_code", "kind", "status"),
    [
        ("library_admin", "JES", LIMITS, 403),  # outside the granter's access
        ("library_admin", "AMS", "narrows", 422),  # no such kind
        ("librarian", "AMS", LIMITS, 403),  # no grant_permission
    ],
)
def test_crafted_limits_change_nothing(
    client, roles, zoe, ams, jes, granter_role, site_code, kind, status
):
    client.force_login(roles[granter_role])
    site = {"AMS": ams, "JES": jes}[site_code]
    response = client.post(CREATE_URL, form_data(site=site, kind=kind))
    assert response.status_code == status
    assert not Grant.objects.exists()


# --- the words the pages use ----------------------------------------------------------------


def test_the_grants_page_says_what_each_kind_does(client, library_admin, zoe, ams, ams_branch):
    give(zoe, VIEW, ams)
    give(zoe, EDIT_NOTES, ams_branch, kind=ADDS)
    client.force_login(library_admin)
    page = client.get(LIST_URL).content.decode()
    assert "Zoë Ng may find and view patrons only at Adams Middle School (and its branches)" in page
    assert "Zoë Ng may also edit notes at Adams Annex" in page
    assert "Adams Annex (and its branches)" not in page  # a branch has none


def test_grant_sentence_for_a_permission_outside_the_areas(zoe, ams, ams_branch):
    grant = give(zoe, "sessions.change_session", ams, kind=ADDS)
    assert grant_selectors.grant_sentence(grant) == (
        "Zoë Ng may also change session at Adams Middle School (and its branches)"
    )
    access = give(zoe, EDIT_ACCESS, Site.objects.get(code="JES"), kind=ADDS)
    assert grant_selectors.grant_sentence(access) == (
        "Zoë Ng may also edit the Access tab at Jefferson Elementary School"
    )


def test_the_revoke_page_says_what_revoking_a_limit_does(client, all_sites_admin, zoe, ams):
    grant = give(zoe, VIEW, ams)
    client.force_login(all_sites_admin)
    page = client.get(reverse("security:grant_revoke", kwargs={"pk": grant.pk})).content.decode()
    assert "Zoë Ng may find and view patrons only at Adams Middle School" in page
    assert "Without this limit" in page


def test_the_access_tab_says_only_at_or_also_at(client, library_admin, zoe, ams, ams_branch):
    give(zoe, VIEW, ams)
    give(zoe, EDIT_NOTES, ams_branch, kind=ADDS)
    client.force_login(library_admin)
    page = client.get(reverse("patrons:tab", args=[zoe.pk, "access"])).content.decode()
    assert "Only at Adams Middle School" in page
    assert "Also at Adams Annex" in page


def test_a_limit_beyond_the_granters_sites_is_refused(library_admin, zoe, ams):
    """An AMS administrator cannot limit (or give back) what Zoë's group lets her do at JES."""
    with pytest.raises(PermissionDenied, match="reaches beyond the sites where you may grant"):
        limit(library_admin, zoe, VIEW, ams)
    assert not Grant.objects.filter(operator=zoe).exists()


def test_taking_back_a_limit_needs_the_same_reach(library_admin, all_sites_admin, zoe, ams):
    grant = limit(all_sites_admin, zoe, VIEW, ams)
    assert not policy.can_revoke_grant(library_admin, grant)
    with pytest.raises(PermissionDenied):
        security_services.grant_revoke(actor=library_admin, grant=grant)
    assert Grant.objects.filter(pk=grant.pk).exists()
    assert policy.can_revoke_grant(all_sites_admin, grant)


def test_a_change_of_group_keeps_the_limits(all_sites_admin, zoe, ams, people):
    from tests.factories import group_at

    limit(all_sites_admin, zoe, VIEW, ams)
    zoe.security_group = group_at(Level.LIBRARY_AIDE)
    zoe.save()
    security_services.grants_review_on_group_change(actor=all_sites_admin, operator=zoe)
    assert Grant.objects.filter(operator=zoe, kind=LIMITS).count() == 1
    assert visible_codes(fresh(zoe)) == {"AMS", "AMSB"}
