"""Group delegations: one who may change a group lets one operator strictly below them give
that group to patrons, or change its permissions. Both sides of every boundary, through
HTTP with crafted POSTs; and a guardian row written behind the services' back never lets
anyone act at or above their own level, outside their scope, or on the District
Administrator group."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils.html import escape

from patrons import services as patron_services
from patrons.models import Patron
from patrons.views.access import DELEGATIONS_REVIEWED
from security import delegation_selectors, policy
from security import services as security_services
from security.forms.delegations import NO_OPERATOR_IN_SITES
from security.models import GroupDelegation, Level, OperatorAction, SecurityGroup
from security.services import DELEGATE_CHANGES_PERMISSIONS_ONLY, GROUP_PERMISSION_NOT_HELD
from security.views.delegations import DELEGATED
from tests.factories import OperatorFactory, PatronFactory, SecurityGroupFactory, group_at
from tests.security.test_groups import form_data, with_perm
from tests.tab_posts import access_data, tab_url

pytestmark = pytest.mark.django_db

ASSIGN = policy.GIVE_STAFF_GROUPS
CHANGE = policy.CHANGE_GROUP


@pytest.fixture
def student_aide(ams):
    """A Library Aide-level group of AMS: below a Librarian, changeable by AMS's Library
    Administrator."""
    group = SecurityGroupFactory(name="Student Aide", level=Level.LIBRARY_AIDE, owner_site=ams)
    group.permissions.add(Permission.objects.get(codename="view_patron"))
    return group


@pytest.fixture
def student(ams):
    return PatronFactory(home_site=ams)


def group_url(group) -> str:
    return reverse("security:group", kwargs={"pk": group.pk})


def create_url(group) -> str:
    return reverse("security:delegation_create", kwargs={"pk": group.pk})


def revoke_url(delegation) -> str:
    return reverse(
        "security:delegation_revoke",
        kwargs={"pk": delegation.content_object_id, "delegation_id": delegation.pk},
    )


def delegate(client, group, recipient: str, right: str = ASSIGN, **extra):
    return client.post(create_url(group), {"recipient": recipient, "right": right}, **extra)


def delegated(actor, group, recipient, right=ASSIGN) -> GroupDelegation:
    return security_services.delegation_create(
        actor=actor, group=group, permission=right, recipient=recipient
    )


def logged(kind) -> list[OperatorAction]:
    return list(OperatorAction.objects.filter(action=kind).order_by("pk"))


def shows(response, text: str) -> bool:
    return escape(text) in response.content.decode()


def group_choices(response) -> list[str]:
    return [label for _, label in response.context["form"].fields["security_group"].widget.choices]


def fresh(patron) -> Patron:
    return Patron.objects.select_related("security_group").get(pk=patron.pk)


# --- delegating ------------------------------------------------------------------------------


def test_a_library_admin_delegates_giving_a_group_to_a_librarian(
    client, library_admin, librarian, student_aide
):
    client.force_login(library_admin)
    response = delegate(client, student_aide, "librarian")
    assert response.status_code == 302
    delegation = GroupDelegation.objects.get()
    assert (delegation.user, delegation.content_object) == (librarian, student_aide)
    assert delegation.delegated_by == library_admin
    assert delegation.permission.codename == "assign_securitygroup"
    [entry] = logged(OperatorAction.Kind.DELEGATED)
    assert (entry.operator, entry.patron, entry.object_id) == (
        library_admin,
        librarian,
        str(student_aide.pk),
    )
    assert entry.details == {"permission": ASSIGN, "group": "Student Aide"}

    page = client.get(group_url(student_aide))
    assert shows(page, "Delegated to")
    assert shows(page, librarian.display_name)
    assert shows(page, "May give this group to patrons")
    assert shows(page, "Take back")
    right = f"give {student_aide.name} to patrons"
    assert shows(page, DELEGATED.format(operator=librarian.display_name, right=right))


def test_the_recipient_is_found_by_barcode_too(client, library_admin, librarian, student_aide):
    client.force_login(library_admin)
    assert delegate(client, student_aide, librarian.barcode, CHANGE).status_code == 302
    assert GroupDelegation.objects.get().permission.codename == "change_securitygroup"


def test_an_htmx_delegation_answers_with_the_section(
    client, library_admin, librarian, student_aide
):
    client.force_login(library_admin)
    response = delegate(client, student_aide, "librarian", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response.templates[0].name == "security/_delegations.html"
    assert shows(response, "May give this group to patrons")


def test_a_district_admin_delegates_a_district_group(client, district_admin, librarian):
    client.force_login(district_admin)
    assert delegate(client, group_at(Level.LIBRARY_AIDE), "librarian").status_code == 302
    assert GroupDelegation.objects.filter(user=librarian).count() == 1


@pytest.mark.parametrize(
    ("recipient", "message"),
    [
        ("otheradmin", policy.GRANTEE_NOT_BELOW),  # at the delegator's level
        ("libadmin", policy.DELEGATE_TO_SELF),
        ("patron", policy.GRANTEE_NOT_OPERATOR),
        ("jeslibrarian", NO_OPERATOR_IN_SITES),  # outside the delegator's sites
        ("nobody", NO_OPERATOR_IN_SITES),
        ("aide", policy.DELEGATE_GROUP_NOT_BELOW.format(name="{aide}")),  # 4 on a 4 group
        ("staff", policy.DELEGATE_NO_ACCESS_TAB.format(name="{staff}")),
    ],
)
def test_a_refused_recipient_is_told_next_to_the_field_and_nothing_changes(
    client, roles, student_aide, ams, recipient, message
):
    OperatorFactory(username="otheradmin", level=Level.LIBRARY_ADMINISTRATOR, home_site=ams)
    client.force_login(roles["library_admin"])
    response = delegate(client, student_aide, recipient)
    assert response.status_code == 422
    message = message.format(aide=roles["aide"].display_name, staff=roles["staff"].display_name)
    assert message in response.context["delegation_form"].errors["recipient"]
    assert shows(response, message)
    assert not GroupDelegation.objects.exists()
    assert not logged(OperatorAction.Kind.DELEGATED)


def test_a_refusal_over_htmx_is_the_section_with_the_error(client, library_admin, student_aide):
    client.force_login(library_admin)
    response = delegate(client, student_aide, "libadmin", HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert shows(response, policy.DELEGATE_TO_SELF)
    assert not GroupDelegation.objects.exists()


def test_a_change_delegation_needs_a_scope_that_covers_the_group(
    client, district_admin, operator_at_other_site, student_aide
):
    """A JES Librarian could never change an AMS group: refused, not kept unused."""
    client.force_login(district_admin)
    response = delegate(client, student_aide, "jeslibrarian", CHANGE)
    assert response.status_code == 422
    name = operator_at_other_site.display_name
    assert shows(response, policy.DELEGATE_SCOPE_TOO_SMALL.format(name=name))
    assert not GroupDelegation.objects.exists()


def test_a_crafted_right_is_refused(client, library_admin, librarian, student_aide):
    client.force_login(library_admin)
    assert delegate(client, student_aide, "librarian", "patrons.edit_access").status_code == 422
    assert not GroupDelegation.objects.exists()


def test_delegating_twice_is_refused(client, library_admin, librarian, student_aide):
    delegated(library_admin, student_aide, librarian)
    client.force_login(library_admin)
    response = delegate(client, student_aide, "librarian")
    assert response.status_code == 422
    message = security_services.DELEGATION_EXISTS.format(
        name=librarian.display_name, group=student_aide.name
    )
    assert shows(response, message)
    assert GroupDelegation.objects.count() == 1


@pytest.mark.parametrize(
    ("group_of", "status"),
    [
        ("own_level", 403),  # a level-1 group of AMS: at the delegator's level
        ("district_administrator", 403),
        ("district", 403),  # the district's Library Aide: a school administrator's reach ends
        ("jes", 404),  # a JES group: not even seen from AMS
    ],
)
def test_a_group_the_delegator_may_not_change_is_refused(
    client, library_admin, librarian, ams, jes, group_of, status
):
    group = {
        "own_level": lambda: SecurityGroupFactory(
            level=Level.LIBRARY_ADMINISTRATOR, owner_site=ams
        ),
        "district_administrator": lambda: SecurityGroup.objects.get(is_protected=True),
        "district": lambda: group_at(Level.LIBRARY_AIDE),
        "jes": lambda: SecurityGroupFactory(level=Level.LIBRARY_AIDE, owner_site=jes),
    }[group_of]()
    client.force_login(library_admin)
    for right in (ASSIGN, CHANGE):
        assert delegate(client, group, "librarian", right).status_code == status
    assert not GroupDelegation.objects.exists()
    assert not shows(client.get(group_url(group)), "Delegated to")


def test_getting_the_delegation_urls_is_not_allowed(client, library_admin, librarian, student_aide):
    delegation = delegated(library_admin, student_aide, librarian)
    client.force_login(library_admin)
    assert client.get(create_url(student_aide)).status_code == 405
    assert client.get(revoke_url(delegation)).status_code == 405
    assert GroupDelegation.objects.count() == 1


# --- the delegate gives the group ------------------------------------------------------------


def test_the_delegate_is_offered_the_group_and_nothing_more(
    client, library_admin, librarian, student_aide, student
):
    client.force_login(librarian)
    before = group_choices(client.get(tab_url(student, "access")))
    assert "Student Aide (4)" not in before
    delegated(library_admin, student_aide, librarian)
    after = group_choices(client.get(tab_url(student, "access")))
    assert sorted(after) == sorted([*before, "Student Aide (4)"])
    assert "Patron (5)" in after
    assert "Library Aide (4)" not in after


def test_the_delegate_gives_the_group_and_not_another_at_its_level(
    client, library_admin, librarian, student_aide, student
):
    delegated(library_admin, student_aide, librarian)
    client.force_login(librarian)
    other = group_at(Level.LIBRARY_AIDE)
    response = client.post(
        tab_url(student, "access"), access_data(student, security_group=other.pk)
    )
    assert response.status_code == 403
    assert fresh(student).security_group == group_at(Level.PATRON)
    data = access_data(student, security_group=student_aide.pk)
    assert client.post(tab_url(student, "access"), data).status_code == 200
    assert fresh(student).security_group == student_aide


def test_without_the_delegation_the_group_is_refused(client, librarian, student_aide, student):
    client.force_login(librarian)
    data = access_data(student, security_group=student_aide.pk)
    assert client.post(tab_url(student, "access"), data).status_code == 403
    assert fresh(student).security_group == group_at(Level.PATRON)


def test_the_delegate_cannot_give_it_out_of_scope_or_to_themself(
    client, library_admin, librarian, student_aide, jes
):
    delegated(library_admin, student_aide, librarian)
    client.force_login(librarian)
    elsewhere = PatronFactory(home_site=jes)
    data = access_data(elsewhere, security_group=student_aide.pk)
    assert client.post(tab_url(elsewhere, "access"), data).status_code == 404
    assert fresh(elsewhere).security_group == group_at(Level.PATRON)
    data = access_data(librarian, security_group=student_aide.pk)
    assert client.post(tab_url(librarian, "access"), data).status_code == 403
    assert fresh(librarian).security_group == group_at(Level.LIBRARIAN)


def test_the_delegate_cannot_delegate_onward(client, library_admin, librarian, student_aide):
    """Neither a delegate of giving the group nor one of its permissions may delegate."""
    delegated(library_admin, student_aide, librarian)
    colleague = OperatorFactory(level=Level.LIBRARY_STAFF, home_site=librarian.home_site)
    client.force_login(librarian)
    assert delegate(client, student_aide, colleague.username).status_code == 403
    delegated(library_admin, student_aide, librarian, CHANGE)
    assert delegate(client, student_aide, colleague.username, CHANGE).status_code == 403
    assert not shows(client.get(group_url(student_aide)), "Delegated to")
    assert GroupDelegation.objects.filter(user=colleague).count() == 0


def test_the_delegate_sees_what_they_hold_on_their_access_tab(
    client, library_admin, librarian, student_aide
):
    delegated(library_admin, student_aide, librarian)
    client.force_login(library_admin)
    response = client.get(tab_url(librarian, "access"))
    assert shows(response, "Group delegations")
    assert shows(response, "Student Aide")
    assert shows(response, "May give this group to patrons")
    assert shows(response, library_admin.display_name)


# --- taking it back --------------------------------------------------------------------------


def test_taking_it_back_ends_the_right_and_is_logged(
    client, library_admin, librarian, student_aide, student
):
    delegation = delegated(library_admin, student_aide, librarian)
    client.force_login(library_admin)
    assert client.post(revoke_url(delegation)).status_code == 302
    assert not GroupDelegation.objects.exists()
    [entry] = logged(OperatorAction.Kind.DELEGATION_REVOKED)
    assert (entry.operator, entry.patron) == (library_admin, librarian)
    assert entry.details == {"permission": ASSIGN, "group": "Student Aide"}
    client.force_login(librarian)
    data = access_data(student, security_group=student_aide.pk)
    assert client.post(tab_url(student, "access"), data).status_code == 403
    assert fresh(student).security_group == group_at(Level.PATRON)


def test_taking_it_back_over_htmx_answers_with_the_section(
    client, library_admin, librarian, student_aide
):
    delegation = delegated(library_admin, student_aide, librarian)
    client.force_login(library_admin)
    response = client.post(revoke_url(delegation), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert shows(response, "Taken back from")
    assert not GroupDelegation.objects.exists()


def test_only_those_who_manage_the_group_take_it_back(
    client, library_admin, librarian, student_aide, ams
):
    delegation = delegated(library_admin, student_aide, librarian, CHANGE)
    client.force_login(librarian)  # the delegate themself
    assert client.post(revoke_url(delegation)).status_code == 403
    other = SecurityGroupFactory(level=Level.LIBRARY_AIDE, owner_site=ams)
    client.force_login(library_admin)
    crossed = reverse(
        "security:delegation_revoke", kwargs={"pk": other.pk, "delegation_id": delegation.pk}
    )
    assert client.post(crossed).status_code == 404
    assert GroupDelegation.objects.count() == 1
    assert not logged(OperatorAction.Kind.DELEGATION_REVOKED)


# --- the delegate's own group changes --------------------------------------------------------


@pytest.fixture
def ams_desk(ams):
    """A Library Staff group of AMS, which AMS's Library Administrator may give."""
    return SecurityGroupFactory(name="AMS Desk", level=Level.LIBRARY_STAFF, owner_site=ams)


def test_a_change_of_the_delegates_group_takes_it_back(
    client, library_admin, librarian, student_aide, ams_desk
):
    delegation = delegated(library_admin, student_aide, librarian)
    client.force_login(library_admin)
    page = client.get(tab_url(librarian, "access"))
    assert f'name="keep_delegations" value="{delegation.pk}"' in page.content.decode()
    data = access_data(librarian, security_group=ams_desk.pk)
    response = client.post(tab_url(librarian, "access"), data)
    assert response.status_code == 200
    assert fresh(librarian).security_group == ams_desk
    assert not GroupDelegation.objects.exists()
    assert shows(response, DELEGATIONS_REVIEWED.format(revoked=1, kept=0))
    [entry] = logged(OperatorAction.Kind.DELEGATION_REVOKED)
    assert entry.details["reason"] == security_services.GROUP_CHANGED


def test_a_delegation_kept_on_purpose_stays(
    client, library_admin, librarian, student_aide, ams_desk
):
    kept = delegated(library_admin, student_aide, librarian)
    dropped = delegated(library_admin, student_aide, librarian, CHANGE)
    client.force_login(library_admin)
    data = access_data(librarian, security_group=ams_desk.pk, keep_delegations=[kept.pk])
    response = client.post(tab_url(librarian, "access"), data)
    assert response.status_code == 200
    assert list(GroupDelegation.objects.all()) == [kept]
    assert shows(response, DELEGATIONS_REVIEWED.format(revoked=1, kept=1))
    assert [e.patron for e in logged(OperatorAction.Kind.DELEGATION_REVOKED)] == [librarian]
    assert dropped.pk not in {d.pk for d in delegation_selectors.patron_delegations(librarian)}


def test_keeping_someone_elses_delegation_has_no_effect(
    client, library_admin, librarian, student_aide, ams_desk, ams
):
    other = OperatorFactory(level=Level.LIBRARIAN, home_site=ams)
    theirs = delegated(library_admin, student_aide, other)
    delegated(library_admin, student_aide, librarian)
    client.force_login(library_admin)
    data = access_data(librarian, security_group=ams_desk.pk, keep_delegations=[theirs.pk])
    response = client.post(tab_url(librarian, "access"), data)
    assert shows(response, DELEGATIONS_REVIEWED.format(revoked=1, kept=0))
    assert list(GroupDelegation.objects.all()) == [theirs]


def test_without_a_change_of_group_nothing_is_taken_back(
    client, library_admin, librarian, student_aide
):
    delegated(library_admin, student_aide, librarian)
    client.force_login(library_admin)
    response = client.post(tab_url(librarian, "access"), access_data(librarian))
    assert response.status_code == 200
    assert GroupDelegation.objects.count() == 1
    assert not shows(response, "Group delegations after")


def test_assigning_a_group_through_the_service_reviews_delegations_too(
    library_admin, librarian, student_aide, ams_desk
):
    kept = delegated(library_admin, student_aide, librarian)
    delegated(library_admin, student_aide, librarian, CHANGE)
    patron_services.patron_assign_group(
        actor=library_admin, patron=librarian, group=ams_desk, keep_delegations=[kept.pk]
    )
    assert list(GroupDelegation.objects.all()) == [kept]


def test_a_delegate_who_becomes_a_patron_keeps_nothing(
    client, library_admin, librarian, student_aide
):
    delegation = delegated(library_admin, student_aide, librarian)
    client.force_login(library_admin)
    data = access_data(
        librarian, security_group=group_at(Level.PATRON).pk, keep_delegations=[delegation.pk]
    )
    assert client.post(tab_url(librarian, "access"), data).status_code == 200
    assert not GroupDelegation.objects.exists()


# --- the delegate changes the group's permissions --------------------------------------------


@pytest.fixture
def change_delegate(library_admin, librarian, student_aide):
    delegated(library_admin, student_aide, librarian, CHANGE)
    return librarian


def permission_names(group) -> set[str]:
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in SecurityGroup.objects.get(pk=group.pk).permissions.all()
    }


def test_the_delegate_sees_the_group_and_only_it(client, change_delegate, student_aide):
    client.force_login(change_delegate)
    listed = client.get(reverse("security:groups"))
    assert listed.status_code == 200
    assert [row.group for row in listed.context["rows"]] == [student_aide]
    page = client.get(group_url(student_aide))
    assert page.status_code == 200
    assert page.context["editable"] and page.context["permissions_only"]
    assert shows(page, DELEGATE_CHANGES_PERMISSIONS_ONLY)
    assert not shows(page, "Delegated to")
    assert client.get(group_url(group_at(Level.LIBRARY_AIDE))).status_code == 404
    assert client.get(reverse("security:group_create")).status_code == 403


def test_the_delegate_adds_a_permission_they_hold(client, change_delegate, student_aide):
    client.force_login(change_delegate)
    page = client.get(group_url(student_aide))
    response = client.post(
        group_url(student_aide), with_perm(form_data(page), "patrons.edit_notes")
    )
    assert response.status_code == 302
    assert permission_names(student_aide) == {"patrons.view_patron", "patrons.edit_notes"}
    [entry] = logged(OperatorAction.Kind.GROUP_CHANGED)
    assert entry.operator == change_delegate


@pytest.mark.parametrize(
    "name",
    [
        "security.view_operator_log",  # not the delegate's
        "security.change_securitygroup",  # held on this one group only, through the delegation
        "security.view_securitygroup",
    ],
)
def test_the_delegate_cannot_add_a_permission_they_do_not_hold(
    client, change_delegate, student_aide, name
):
    client.force_login(change_delegate)
    page = client.get(group_url(student_aide))
    response = client.post(group_url(student_aide), with_perm(form_data(page), name))
    assert response.status_code == 403
    assert shows(response, GROUP_PERMISSION_NOT_HELD.split(" You do not hold")[0])
    assert permission_names(student_aide) == {"patrons.view_patron"}


@pytest.mark.parametrize(
    "change",
    [
        {"name": "Renamed"},
        {"level": str(Level.LIBRARY_STAFF)},
        {"description": "Something else"},
        {"owner_site": ""},
        {"parent": "PARENT"},
    ],
)
def test_the_delegate_changes_nothing_but_the_permissions(
    client, change_delegate, student_aide, change
):
    client.force_login(change_delegate)
    page = client.get(group_url(student_aide))
    if change.get("parent") == "PARENT":
        change = {"parent": str(group_at(Level.LIBRARY_AIDE).pk)}
    data = with_perm(form_data(page), "patrons.edit_notes") | change
    response = client.post(group_url(student_aide), data)
    assert response.status_code == 403
    assert response.context["form"].non_field_errors() == [DELEGATE_CHANGES_PERMISSIONS_ONLY]
    saved = SecurityGroup.objects.get(pk=student_aide.pk)
    assert (saved.name, saved.level, saved.description, saved.parent, saved.owner_site) == (
        student_aide.name,
        student_aide.level,
        student_aide.description,
        None,
        student_aide.owner_site,
    )
    assert permission_names(student_aide) == {"patrons.view_patron"}


def test_the_delegate_does_not_change_grantable_marks(client, change_delegate, student_aide):
    client.force_login(change_delegate)
    page = client.get(group_url(student_aide))
    data = form_data(page) | {"grantable": ["patrons.view_patron"]}
    assert client.post(group_url(student_aide), data).status_code == 302
    assert not SecurityGroup.objects.get(pk=student_aide.pk).grantable_permissions.exists()


def test_a_change_delegate_whose_group_changes_loses_the_group_page(
    client, library_admin, change_delegate, student_aide, ams_desk
):
    patron_services.patron_assign_group(actor=library_admin, patron=change_delegate, group=ams_desk)
    client.force_login(change_delegate)
    assert client.get(group_url(student_aide)).status_code == 403


# --- guardian rows behind the services' back -------------------------------------------------


def _row(user, group, perm_name):
    codename = perm_name.split(".")[1]
    return GroupDelegation.objects.create(
        user=user,
        content_object=group,
        permission=Permission.objects.get(content_type__app_label="security", codename=codename),
    )


@pytest.mark.parametrize("holder", ["librarian", "library_admin"])
@pytest.mark.parametrize("target", ["own_level", "district_administrator", "other_site"])
def test_a_guardian_row_never_lifts_the_rules(client, roles, ams, jes, holder, target):
    """A row for a group at the holder's own level, for the protected District
    Administrator group, or for a group owned by a site outside the holder's access: the
    policy, the backend and the querysets all refuse."""
    operator = roles[holder]
    group = {
        "own_level": lambda: SecurityGroupFactory(
            level=operator.security_group.level, owner_site=ams
        ),
        "district_administrator": lambda: SecurityGroup.objects.get(is_protected=True),
        "other_site": lambda: SecurityGroupFactory(level=Level.LIBRARY_AIDE, owner_site=jes),
    }[target]()
    for perm_name in (ASSIGN, CHANGE):
        _row(operator, group, perm_name)
    operator = fresh(operator)
    for action in (policy.ASSIGN_GROUP, ASSIGN, CHANGE, "security.delete_securitygroup"):
        assert not policy.can(operator, action, group), action
        assert not operator.has_perm(action, group), action
        assert not policy.scope(operator, action, SecurityGroup).filter(pk=group.pk).exists()
    seen = policy.scope(operator, policy.VIEW_GROUP, SecurityGroup).filter(pk=group.pk)
    assert seen.exists() == policy.can(operator, policy.VIEW_GROUP, group)  # by their own group
    client.force_login(operator)
    student = PatronFactory(home_site=ams)
    data = access_data(student, security_group=group.pk)
    assert client.post(tab_url(student, "access"), data).status_code in (403, 404)
    assert fresh(student).security_group == group_at(Level.PATRON)


def test_a_guardian_row_gives_a_patron_nothing(patron, student_aide):
    for perm_name in (ASSIGN, CHANGE):
        _row(patron, student_aide, perm_name)
    patron = fresh(patron)
    for action in (policy.ASSIGN_GROUP, CHANGE, policy.VIEW_GROUP):
        assert not policy.can(patron, action, student_aide)
        assert not patron.has_perm(action)
        assert not policy.scope(patron, action, SecurityGroup).exists()


def test_a_guardian_row_within_the_rules_does_what_the_service_would(librarian, student_aide):
    """The other side of the boundary: a row the service would have written is used."""
    _row(librarian, student_aide, ASSIGN)
    _row(librarian, student_aide, CHANGE)
    librarian = fresh(librarian)
    assert policy.can(librarian, policy.ASSIGN_GROUP, student_aide)
    assert policy.can(librarian, CHANGE, student_aide)
    assert policy.scope(librarian, CHANGE, SecurityGroup).get() == student_aide


# --- the Django admin ------------------------------------------------------------------------


def test_the_admin_shows_a_groups_delegations_read_only(
    client, district_admin, library_admin, librarian, student_aide
):
    delegated(library_admin, student_aide, librarian)
    client.force_login(district_admin)
    url = reverse("admin:security_securitygroup_change", args=[student_aide.pk])
    page = client.get(url)
    assert page.status_code == 200
    [inline] = page.context["inline_admin_formsets"]
    assert not inline.has_add_permission
    assert not inline.has_change_permission
    assert not inline.has_delete_permission
    assert shows(page, str(librarian))
    data = {
        "name": student_aide.name,
        "level": student_aide.level,
        "description": "",
        "permissions": [p.pk for p in student_aide.permissions.all()],
        "delegations-TOTAL_FORMS": "2",
        "delegations-INITIAL_FORMS": "1",
        "delegations-MIN_NUM_FORMS": "0",
        "delegations-MAX_NUM_FORMS": "1000",
        "delegations-0-id": str(GroupDelegation.objects.get().pk),
        "delegations-0-DELETE": "on",
        "delegations-1-user": str(district_admin.pk),
        "delegations-1-permission": str(Permission.objects.get(codename="change_securitygroup").pk),
    }
    client.post(url, data)
    assert [(d.user, d.delegated_by) for d in GroupDelegation.objects.all()] == [
        (librarian, library_admin)
    ]


def test_guardians_backend_is_not_asked_the_policy_decides():
    """django-guardian's rows are facts the policy reads; its own backend, which would
    answer from a row alone, is not among the authentication backends."""
    from django.conf import settings

    assert "guardian.backends.ObjectPermissionBackend" not in settings.AUTHENTICATION_BACKENDS
    assert settings.AUTHENTICATION_BACKENDS[-1] == "security.backends.PolicyBackend"
    assert settings.ANONYMOUS_USER_NAME is None
