"""Owner sites of security groups (rule 2's last sentence): a group is shared by its
members, so by editing it (level, permissions, parent, owner, delete and move) nobody
changes what an operator outside their own scope can do, District Administrators excepted.

A group belongs to a site (or to the whole district: the six default groups), its members'
home sites lie within that site, and only operators whose scope covers the owner site
change it. The reproduction of the outside review comes first."""

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patrons import services as patron_services
from patrons.models import Patron
from patrons.models.patron import HOME_SITE_OUTSIDE_GROUP
from security import policy
from security import services as security_services
from security.models import Level, OperatorAction, SecurityGroup
from security.services import MEMBERS_OUTSIDE_OWNER, OWNER_OUT_OF_SCOPE
from sites.models import Site
from tests.factories import OperatorFactory, PatronFactory, SecurityGroupFactory, group_at
from tests.security.helpers import update_group

pytestmark = pytest.mark.django_db


def perm(name: str) -> Permission:
    app_label, codename = name.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def names(permissions) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}" for p in permissions}


def group_url(group) -> str:
    return reverse("security:group", kwargs={"pk": group.pk})


def delete_url(group) -> str:
    return reverse("security:group_delete", kwargs={"pk": group.pk})


def edit_post(group: SecurityGroup, **changes) -> dict:
    """What the group page posts, as a crafted request would state it."""
    data = {
        "name": group.name,
        "level": group.level,
        "description": group.description,
        "parent": group.parent_id or "",
        "permissions": sorted(names(group.permissions.all())),
        "loaded_at": group.updated_at.isoformat(),
    }
    if group.owner_site_id:
        data["owner_site"] = group.owner_site_id
    return data | changes


def reloaded(group: SecurityGroup) -> SecurityGroup:
    return SecurityGroup.objects.get(pk=group.pk)


@pytest.fixture
def night_aide(district_admin, ams, jes):
    """The review's group: made by the District Administrator for the whole district, one
    member at JES and one at AMS."""
    group = security_services.group_create(
        actor=district_admin,
        name="Night Aide",
        level=Level.LIBRARY_AIDE,
        permissions=[perm("patrons.view_patron")],
    )
    OperatorFactory(username="jesaide", security_group=group, home_site=jes)
    OperatorFactory(username="amsaide", security_group=group, home_site=ams)
    return group


@pytest.fixture
def ams_group(library_admin, ams):
    """A group the AMS Library Administrator made for their school."""
    return security_services.group_create(
        actor=library_admin,
        name="AMS Shelvers",
        level=Level.LIBRARY_AIDE,
        owner_site=ams,
        permissions=[perm("patrons.view_patron")],
    )


# --- the review's reproduction ------------------------------------------------------------


def test_a_school_administrator_cannot_raise_a_district_group(client, library_admin, night_aide):
    client.force_login(library_admin)
    data = edit_post(
        night_aide,
        level=Level.LIBRARIAN,
        permissions=[
            "patrons.view_patron",
            "patrons.edit_access",
            "patrons.delete_patron",
            "patrons.edit_personal",
        ],
    )
    response = client.post(group_url(night_aide), data)
    assert response.status_code == 403
    group = reloaded(night_aide)
    assert group.level == Level.LIBRARY_AIDE
    assert names(group.permissions.all()) == {"patrons.view_patron"}
    jes_aide = Patron.objects.get(username="jesaide")
    assert not jes_aide.has_perm("patrons.edit_access")


def test_the_page_of_a_district_group_is_read_only_for_a_school_administrator(
    client, library_admin, night_aide
):
    client.force_login(library_admin)
    response = client.get(group_url(night_aide))
    assert response.status_code == 200
    assert not response.context["editable"]
    assert not response.context["can_delete"]


@pytest.mark.parametrize("target_level", [Level.LIBRARY_AIDE, Level.PATRON])
def test_a_school_administrator_cannot_delete_a_default_group_and_move_everyone(
    client, library_admin, ams, jes, target_level
):
    aide_group = group_at(Level.LIBRARY_AIDE)
    jes_member = OperatorFactory(security_group=aide_group, home_site=jes)
    client.force_login(library_admin)
    target = group_at(Level.LIBRARIAN) if target_level == Level.LIBRARY_AIDE else group_at(5)
    response = client.post(delete_url(aide_group), {"move_members_to": target.pk})
    assert response.status_code == 403
    assert SecurityGroup.objects.filter(pk=aide_group.pk).exists()
    jes_member.refresh_from_db()
    assert jes_member.security_group == aide_group


def test_a_school_administrator_cannot_delete_the_review_group(client, library_admin, night_aide):
    client.force_login(library_admin)
    response = client.post(
        delete_url(night_aide), {"move_members_to": group_at(Level.LIBRARIAN).pk}
    )
    assert response.status_code == 403
    assert Patron.objects.filter(security_group=night_aide).count() == 2


def test_a_district_wide_administrator_changes_the_district_groups(district, night_aide):
    """The boundary's other side: a Library Administrator whose access covers every site."""
    admin = OperatorFactory(level=Level.LIBRARY_ADMINISTRATOR, home_site=district)
    update_group(
        admin, night_aide, level=Level.LIBRARY_STAFF, permissions=[perm("patrons.view_patron")]
    )
    assert reloaded(night_aide).level == Level.LIBRARY_STAFF


def test_a_district_administrator_is_excepted(district_admin, night_aide):
    security_services.group_delete(
        actor=district_admin, group=night_aide, move_members_to=group_at(Level.LIBRARY_STAFF)
    )
    assert Patron.objects.filter(security_group=group_at(Level.LIBRARY_STAFF)).count() == 2


# --- a school's own groups -----------------------------------------------------------------


def test_a_school_administrator_makes_and_changes_groups_of_their_school(
    client, library_admin, ams, ams_group
):
    member = OperatorFactory(security_group=ams_group, home_site=ams)
    client.force_login(library_admin)
    data = edit_post(
        ams_group,
        level=Level.LIBRARY_STAFF,
        permissions=["patrons.view_patron", "patrons.edit_notes"],
    )
    response = client.post(group_url(ams_group), data)
    assert response.status_code == 302
    group = reloaded(ams_group)
    assert group.level == Level.LIBRARY_STAFF
    assert group.owner_site == ams
    policy.forget(member)
    assert Patron.objects.get(pk=member.pk).has_perm("patrons.edit_notes")


def test_the_new_group_form_offers_only_sites_in_scope(client, library_admin, ams, jes):
    client.force_login(library_admin)
    form = client.get(reverse("security:group_create")).context["form"]
    offered = [value for value, _ in form.fields["owner_site"].widget.choices]
    assert offered == [ams.pk]
    assert form.fields["owner_site"].initial == ams.pk


@pytest.mark.parametrize("owner", ["jes", "district"])
def test_a_crafted_group_for_another_site_or_the_district_is_refused(
    client, library_admin, ams, jes, owner
):
    client.force_login(library_admin)
    data = {
        "name": "Sneaky",
        "level": Level.LIBRARY_AIDE,
        "description": "",
        "owner_site": jes.pk if owner == "jes" else "",
        "permissions": ["patrons.view_patron"],
    }
    response = client.post(reverse("security:group_create"), data)
    assert response.status_code == 403
    assert OWNER_OUT_OF_SCOPE in response.content.decode()
    assert not SecurityGroup.objects.filter(name="Sneaky").exists()


def test_moving_a_group_to_a_site_out_of_scope_is_refused(client, library_admin, jes, ams_group):
    client.force_login(library_admin)
    response = client.post(group_url(ams_group), edit_post(ams_group, owner_site=jes.pk))
    assert response.status_code == 403
    assert reloaded(ams_group).owner_site_id != jes.pk


def test_a_group_of_another_school_is_not_found(client, jes, ams_group):
    jes_admin = OperatorFactory(level=Level.LIBRARY_ADMINISTRATOR, home_site=jes)
    client.force_login(jes_admin)
    assert client.get(group_url(ams_group)).status_code == 404
    assert client.post(group_url(ams_group), edit_post(ams_group)).status_code == 404
    listed = [row.group for row in client.get(reverse("security:groups")).context["rows"]]
    assert ams_group not in listed
    assert group_at(Level.LIBRARY_AIDE) in listed


def test_a_branch_operator_sees_and_gives_the_groups_of_its_school(ams_branch, ams_group):
    branch_admin = OperatorFactory(level=Level.LIBRARY_ADMINISTRATOR, home_site=ams_branch)
    patron = PatronFactory(home_site=ams_branch)
    assert policy.can(branch_admin, "security.view_securitygroup", ams_group)
    assert not policy.can(branch_admin, "security.change_securitygroup", ams_group)
    patron_services.patron_assign_group(actor=branch_admin, patron=patron, group=ams_group)
    patron.refresh_from_db()
    assert patron.security_group == ams_group


def test_a_parent_cannot_pass_on_to_a_group_of_another_school(
    district_admin, library_admin, jes, ams_group
):
    SecurityGroupFactory(
        name="JES Trainee", level=Level.LIBRARY_AIDE, parent=ams_group, owner_site=jes
    )
    with pytest.raises(PermissionDenied, match="JES Trainee"):
        update_group(
            library_admin,
            ams_group,
            permissions=[perm("patrons.view_patron"), perm("patrons.edit_notes")],
        )
    assert names(reloaded(ams_group).permissions.all()) == {"patrons.view_patron"}


# --- members lie within the owner site ----------------------------------------------------


def test_a_group_of_a_school_is_not_given_to_a_patron_of_another(district_admin, jes, ams_group):
    patron = PatronFactory(home_site=jes)
    with pytest.raises(ValidationError) as refused:
        patron_services.patron_assign_group(actor=district_admin, patron=patron, group=ams_group)
    expected = HOME_SITE_OUTSIDE_GROUP.format(group=ams_group.name, site=ams_group.owner_site)
    assert expected in refused.value.messages
    patron.refresh_from_db()
    assert patron.security_group != ams_group


def test_a_member_does_not_move_out_of_the_owner_site(client, district_admin, ams, jes, ams_group):
    member = OperatorFactory(security_group=ams_group, home_site=ams)
    client.force_login(district_admin)
    page = client.get(reverse("patrons:tab", kwargs={"pk": member.pk, "tab": "personal"}))
    form = page.context["form"]
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.pop("photo", None)
    data |= {"home_site": jes.pk}
    response = client.post(
        reverse("patrons:tab", kwargs={"pk": member.pk, "tab": "personal"}), data
    )
    assert response.status_code == 422
    assert "belongs to" in response.content.decode()
    member.refresh_from_db()
    assert member.home_site == ams


def test_members_do_not_move_into_a_group_of_a_narrower_site(
    district_admin, ams, jes, night_aide, ams_group
):
    with pytest.raises(ValidationError) as refused:
        security_services.group_delete(
            actor=district_admin, group=night_aide, move_members_to=ams_group
        )
    assert refused.value.messages == [MEMBERS_OUTSIDE_OWNER.format(count=1, site=ams)]
    assert Patron.objects.filter(security_group=night_aide).count() == 2


def test_a_group_does_not_shrink_away_from_its_members(district_admin, ams, ams_branch, ams_group):
    OperatorFactory(security_group=ams_group, home_site=ams)
    with pytest.raises(ValidationError, match="outside"):
        update_group(
            district_admin,
            ams_group,
            permissions=[perm("patrons.view_patron")],
            owner_site=ams_branch,
        )
    assert reloaded(ams_group).owner_site == ams


# --- the operator log ---------------------------------------------------------------------


def test_log_lines_about_a_group_belong_to_its_owner_site(
    client, district_admin, library_admin, ams, ams_group
):
    security_services.group_update(
        actor=district_admin,
        group=ams_group,
        name="AMS Shelving team",
        level=ams_group.level,
        description="",
        permissions=[perm("patrons.view_patron")],
    )
    entry = OperatorAction.objects.get(action=OperatorAction.Kind.GROUP_CHANGED)
    assert entry.site == ams
    client.force_login(library_admin)
    rows = client.get(reverse("security:log"), {"action": "group_changed"}).context["page"].rows
    assert entry in rows


# --- the property -------------------------------------------------------------------------

SITE_CODES = ["DIST", "AMS", "AMSB", "JES"]
GROUP_EDITOR = [
    "security.view_securitygroup",
    "security.add_securitygroup",
    "security.change_securitygroup",
    "security.delete_securitygroup",
    "patrons.view_patron",
    "patrons.edit_access",
    "patrons.edit_notes",
    "patrons.delete_patron",
]
site_indexes = st.integers(min_value=0, max_value=len(SITE_CODES) - 1)
owners = st.one_of(st.none(), site_indexes)
staff_levels = st.integers(min_value=Level.LIBRARY_ADMINISTRATOR, max_value=Level.LIBRARY_AIDE)
group_levels = st.integers(min_value=Level.LIBRARY_ADMINISTRATOR, max_value=Level.PATRON)
edits = st.sampled_from(["level", "permissions", "parent", "owner", "delete"])


def _sites() -> list[Site]:
    district = Site.objects.create(code="DIST", name="District", kind=Site.Kind.DISTRICT)
    ams = Site.objects.create(code="AMS", name="Adams", parent=district)
    branch = Site.objects.create(code="AMSB", name="Adams Annex", parent=ams)
    jes = Site.objects.create(code="JES", name="Jefferson", parent=district)
    return [district, ams, branch, jes]


def _within(site: Site, owner: Site | None) -> bool:
    return owner is None or owner.pk in site.ancestor_ids(include_self=True)


def _what_each_patron_can_do() -> dict[int, tuple]:
    holdings = {}
    for patron in Patron.objects.select_related("security_group"):
        group = patron.security_group
        holdings[patron.pk] = (group.level, policy.group_permissions(group)[0])
    return holdings


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    editor_level=staff_levels,
    editor_access=st.sets(site_indexes, min_size=1, max_size=2),
    group_specs=st.lists(st.tuples(group_levels, owners), min_size=1, max_size=4),
    member_sites=st.lists(st.tuples(st.integers(0, 3), site_indexes), max_size=8),
    edit=edits,
    target=st.integers(0, 3),
    other=st.integers(0, 4),
    new_level=group_levels,
    new_owner=owners,
)
def test_no_group_edit_reaches_outside_the_editors_scope(
    default_groups,
    editor_level,
    editor_access,
    group_specs,
    member_sites,
    edit,
    target,
    other,
    new_level,
    new_owner,
):
    with transaction.atomic():
        sites = _sites()
        groups = [
            SecurityGroupFactory(level=level, owner_site=None if owner is None else sites[owner])
            for level, owner in group_specs
        ]
        for group in groups:
            group.permissions.add(perm("patrons.view_patron"))
        for group_index, site_index in member_sites:
            group = groups[group_index % len(groups)]
            home = sites[site_index]
            if not _within(home, group.owner_site):
                home = group.owner_site
            PatronFactory(security_group=group, home_site=home)
        editor_group = SecurityGroupFactory(level=editor_level)
        editor_group.permissions.set([perm(name) for name in GROUP_EDITOR])
        editor = OperatorFactory(
            security_group=editor_group,
            home_site=sites[min(editor_access)],
            site_access=[sites[i] for i in editor_access],
        )
        editor = Patron.objects.select_related("security_group").get(pk=editor.pk)
        in_scope = set(
            policy.scope(editor, "patrons.view_patron", Patron).values_list("pk", flat=True)
        )
        before = _what_each_patron_can_do()

        group = groups[target % len(groups)]
        others = [g for g in [*groups, *SecurityGroup.objects.filter(owner_site=None)]]
        other_group = others[other % len(others)]
        try:
            with transaction.atomic():
                _edit(editor, group, edit, other_group, new_level, new_owner, sites)
        except (PermissionDenied, ValidationError):
            pass

        after = _what_each_patron_can_do()
        changed = {pk for pk, held in after.items() if before.get(pk) != held}
        assert changed <= in_scope, (edit, changed - in_scope)
        transaction.set_rollback(True)


def _edit(editor, group, edit, other_group, new_level, new_owner, sites):
    if edit == "delete":
        security_services.group_delete(actor=editor, group=group, move_members_to=other_group)
        return
    fields = {
        "name": group.name,
        "level": group.level,
        "description": "",
        "permissions": [perm("patrons.view_patron"), perm("patrons.edit_notes")],
    }
    if edit == "level":
        fields["level"] = new_level
    elif edit == "parent":
        fields["parent"] = other_group
    elif edit == "owner":
        fields["owner_site"] = None if new_owner is None else sites[new_owner]
    elif edit == "permissions":
        fields["permissions"] = [perm("patrons.view_patron"), perm("patrons.edit_access")]
    security_services.group_update(actor=editor, group=group, **fields)


# --- moving a site ------------------------------------------------------------------------


def test_a_branch_does_not_move_away_from_the_groups_of_its_school(
    district_admin, ams, ams_branch, jes, ams_group
):
    from sites import services as site_services

    OperatorFactory(security_group=ams_group, home_site=ams_branch)
    with pytest.raises(ValidationError) as refused:
        site_services.site_update(
            actor=district_admin,
            site=ams_branch,
            code=ams_branch.code,
            name=ams_branch.name,
            kind=ams_branch.kind,
            parent=jes,
        )
    expected = site_services.MOVE_SPLITS_GROUPS.format(names=ams_group.name)
    assert refused.value.message_dict["parent"] == [expected]
    ams_branch.refresh_from_db()
    assert ams_branch.parent == ams


def test_a_branch_whose_members_stay_within_their_groups_moves(
    district_admin, ams, ams_branch, jes, ams_group
):
    from sites import services as site_services

    PatronFactory(home_site=ams_branch)  # in a district group: it reaches everywhere
    site_services.site_update(
        actor=district_admin,
        site=ams_branch,
        code=ams_branch.code,
        name=ams_branch.name,
        kind=ams_branch.kind,
        parent=jes,
    )
    ams_branch.refresh_from_db()
    assert ams_branch.parent == jes


# --- inheriting ---------------------------------------------------------------------------


def test_a_school_group_inherits_from_a_district_group(library_admin, ams):
    """Alexandria's Student Aide under Library Aide, made by the school's administrator."""
    group = security_services.group_create(
        actor=library_admin,
        name="Student Aide",
        level=Level.LIBRARY_AIDE,
        owner_site=ams,
        parent=group_at(Level.LIBRARY_AIDE),
    )
    assert group.parent == group_at(Level.LIBRARY_AIDE)


def test_a_crafted_parent_of_another_school_is_refused(client, library_admin, ams, jes):
    jes_group = SecurityGroupFactory(name="JES Aides", level=Level.LIBRARY_AIDE, owner_site=jes)
    client.force_login(library_admin)
    data = {
        "name": "Cuckoo",
        "level": Level.LIBRARY_AIDE,
        "description": "",
        "owner_site": ams.pk,
        "parent": jes_group.pk,
    }
    response = client.post(reverse("security:group_create"), data)
    assert response.status_code == 403
    assert security_services.PARENT_OUT_OF_REACH in response.content.decode()
    assert not SecurityGroup.objects.filter(name="Cuckoo").exists()
