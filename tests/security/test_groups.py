"""The security group pages and services: rules 2 and 3 at each boundary, the permission
matrix, the group tree (inheritance), grantable marks and deleting with a move."""

from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils.html import escape

from patrons.models import Patron
from security import policy, preferences
from security import services as security_services
from security.models import (
    CHILDREN_LESS_POWERFUL,
    PARENT_CYCLE,
    PARENT_MORE_POWERFUL,
    Level,
    OperatorAction,
    SecurityGroup,
)
from security.permission_areas import AREAS, LABELS
from security.services import (
    DEFAULT_GROUP_LOCKED,
    GRANTABLE_NEEDS_PERMISSION,
    GROUP_HAS_MEMBERS,
    GROUP_PERMISSION_NOT_HELD,
    INHERITED_OUT_OF_REACH,
    LEVEL_AT_OR_ABOVE_OWN,
    OWN_GROUP_LOCKED,
    PERMISSION_NOT_HELD,
)
from security.views.groups import PROTECTED_NOTE, READ_ONLY_NOTE
from tests.factories import OperatorFactory, PatronFactory, SecurityGroupFactory, group_at
from tests.security.helpers import update_group

pytestmark = pytest.mark.django_db


@pytest.fixture
def library_admin(district):
    """Here the subject is levels and the group tree, so the Library Administrator and the
    Librarian work for the whole district and may change the district's own groups. Owner
    sites (a school's administrator and the groups of their school) are the subject of
    test_group_owner_sites.py."""
    return OperatorFactory(
        username="libadmin", level=Level.LIBRARY_ADMINISTRATOR, home_site=district
    )


@pytest.fixture
def librarian(district):
    return OperatorFactory(username="librarian", level=Level.LIBRARIAN, home_site=district)


LIST = reverse("security:groups")
CREATE = reverse("security:group_create")
SECURITY_EDITOR = ["security.view_securitygroup", "security.change_securitygroup"]


def perm(name: str) -> Permission:
    app_label, codename = name.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def names(permissions) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}" for p in permissions}


def own(group: SecurityGroup) -> set[str]:
    return names(SecurityGroup.objects.get(pk=group.pk).permissions.all())


def marks(group: SecurityGroup) -> set[str]:
    return names(SecurityGroup.objects.get(pk=group.pk).grantable_permissions.all())


def give(group: SecurityGroup, *perms: str, grantable=()) -> None:
    group.permissions.add(*[perm(name) for name in perms])
    group.grantable_permissions.add(*[perm(name) for name in grantable])


def group_url(group):
    return reverse("security:group", kwargs={"pk": group.pk})


def delete_url(group):
    return reverse("security:group_delete", kwargs={"pk": group.pk})


def reloaded(group):
    return SecurityGroup.objects.get(pk=group.pk)


def state(group):
    """Everything a save could change."""
    group = reloaded(group)
    return (group.name, group.level, group.description, group.parent_id, own(group), marks(group))


class _FormReader(HTMLParser):
    """What a browser submits from the page's form: checked boxes, hidden and text inputs,
    selected options, textareas; never disabled controls."""

    def __init__(self):
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._select = self._textarea = None

    def _add(self, name, value):
        self.data.setdefault(name, []).append(value)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "option" and self._select and "selected" in attrs:
            self._add(self._select, attrs.get("value", ""))
        elif not name or "disabled" in attrs:
            return
        elif tag == "input" and attrs.get("type") not in ("submit", "button"):
            if attrs.get("type") not in ("checkbox", "radio") or "checked" in attrs:
                self._add(name, attrs.get("value", "on"))
        elif tag == "select":
            self._select = name
        elif tag == "textarea":
            self._textarea = name
            self._add(name, "")

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea][-1] += data

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def form_data(response, **changes) -> dict:
    """The page's form as a browser would post it, with `changes` (lists for many values)."""
    reader = _FormReader()
    reader.feed(response.content.decode())
    data = {name: values if len(values) > 1 else values[0] for name, values in reader.data.items()}
    data.pop("csrfmiddlewaretoken", None)
    for name in ("permissions", "grantable"):
        if name in data and not isinstance(data[name], list):
            data[name] = [data[name]]
    data.update(changes)
    return data


def shows(response, text: str) -> bool:
    return escape(text) in response.content.decode()


def with_perm(data: dict, name: str, key="permissions") -> dict:
    return data | {key: [*data.get(key, []), name]}


def without_perm(data: dict, name: str, key="permissions") -> dict:
    return data | {key: [value for value in data.get(key, []) if value != name]}


@pytest.fixture
def security_librarian(librarian):
    """Alexandria's example: a Librarian (2) given the security groups permission."""
    give(librarian.security_group, *SECURITY_EDITOR)
    policy.forget(librarian)
    return librarian


@pytest.fixture
def student_aide(default_groups):
    """Student Aide (4) inherits from Library Aide (4)."""
    return SecurityGroupFactory(
        name="Student Aide", level=Level.LIBRARY_AIDE, parent=group_at(Level.LIBRARY_AIDE)
    )


# --- the policy: inherited permissions ------------------------------------------------------


def test_an_inherited_permission_is_held(student_aide, ams):
    give(group_at(Level.LIBRARY_AIDE), "patrons.edit_notes")
    member = OperatorFactory(security_group=student_aide, home_site=ams)
    assert member.has_perm("patrons.edit_notes")
    assert member.has_perm("patrons.view_patron")  # Library Aide's default
    assert not member.has_perm("patrons.edit_personal")


def test_permissions_are_inherited_through_every_ancestor(student_aide, ams):
    give(group_at(Level.LIBRARY_AIDE), "patrons.edit_blocks", grantable=["patrons.edit_blocks"])
    trainee = SecurityGroupFactory(name="Trainee", level=Level.LIBRARY_AIDE, parent=student_aide)
    held, grantable = policy.group_permissions(trainee)
    assert {"patrons.view_patron", "patrons.edit_blocks"} <= held
    assert grantable == {"patrons.edit_blocks"}
    member = OperatorFactory(security_group=trainee, home_site=ams)
    assert member.has_perm("patrons.edit_blocks")


def test_a_mark_without_the_permission_is_not_grantable(student_aide):
    student_aide.grantable_permissions.add(perm("patrons.edit_contact"))
    assert policy.group_permissions(student_aide)[1] == frozenset()


def test_a_groups_holdings_are_read_in_one_query(student_aide, django_assert_num_queries):
    trainee = SecurityGroupFactory(name="Trainee", level=Level.LIBRARY_AIDE, parent=student_aide)
    with django_assert_num_queries(1):
        held, _ = policy.group_permissions(trainee)
    assert "patrons.view_patron" in held


def test_a_parent_with_more_power_cannot_be_set(library_admin, student_aide):
    librarian_group = group_at(Level.LIBRARIAN)
    with pytest.raises(ValidationError, match=PARENT_MORE_POWERFUL):
        _update(library_admin, student_aide, parent=librarian_group)
    assert reloaded(student_aide).parent == group_at(Level.LIBRARY_AIDE)
    # The model refuses it too (the Django admin saves through it).
    student_aide.parent = librarian_group
    with pytest.raises(ValidationError, match=PARENT_MORE_POWERFUL):
        student_aide.full_clean()


def test_a_parent_of_less_power_can_be_set(library_admin, student_aide):
    staff_group = group_at(Level.LIBRARY_STAFF)
    _update(library_admin, staff_group, parent=group_at(Level.LIBRARY_AIDE))
    assert reloaded(staff_group).parent == group_at(Level.LIBRARY_AIDE)


def test_no_group_inherits_from_itself_or_a_descendant(library_admin, student_aide):
    library_aide = group_at(Level.LIBRARY_AIDE)
    for parent in [library_aide, student_aide]:
        with pytest.raises(ValidationError, match=PARENT_CYCLE):
            _update(library_admin, library_aide, parent=parent)
    assert reloaded(library_aide).parent is None


def test_a_parent_cannot_gain_power_over_its_children(library_admin, student_aide):
    library_aide = group_at(Level.LIBRARY_AIDE)
    message = CHILDREN_LESS_POWERFUL.format(names="Student Aide (4)", level=4)
    with pytest.raises(ValidationError) as refused:
        _update(library_admin, library_aide, level=Level.LIBRARY_STAFF)
    assert refused.value.message_dict == {"level": [message]}
    assert reloaded(library_aide).level == Level.LIBRARY_AIDE


# --- services -------------------------------------------------------------------------------


_update = update_group


def test_the_change_permission_alone_is_enough_for_the_service(librarian):
    """Alexandria's example through the service, without the pages' view permission."""
    give(librarian.security_group, "security.change_securitygroup")
    policy.forget(librarian)
    _update(librarian, group_at(Level.LIBRARY_STAFF), description="Desk staff")
    assert reloaded(group_at(Level.LIBRARY_STAFF)).description == "Desk staff"
    for level in [Level.LIBRARIAN, Level.LIBRARY_ADMINISTRATOR]:
        with pytest.raises(PermissionDenied):
            _update(librarian, group_at(level), description="Mine now")
        assert reloaded(group_at(level)).description != "Mine now"


def test_removing_a_permission_one_lacks_is_refused(security_librarian):
    aide_group = group_at(Level.LIBRARY_AIDE)
    give(aide_group, "sites.view_site")
    before = state(aide_group)
    kept = [p for p in aide_group.permissions.all() if p.codename != "view_site"]
    with pytest.raises(PermissionDenied, match=PERMISSION_NOT_HELD):
        _update(security_librarian, aide_group, permissions=kept)
    assert state(aide_group) == before


def test_a_parent_cannot_bring_permissions_one_lacks(security_librarian):
    """Inheriting is giving: a parent holding what the editor lacks is refused."""
    shelvers = SecurityGroupFactory(name="Shelvers", level=Level.LIBRARY_AIDE)
    give(shelvers, "sites.view_site")
    staff_group = group_at(Level.LIBRARY_STAFF)
    with pytest.raises(PermissionDenied) as refused:
        _update(security_librarian, staff_group, parent=shelvers)
    assert str(refused.value) == GROUP_PERMISSION_NOT_HELD.format(labels="View sites")
    assert reloaded(staff_group).parent is None


def test_what_a_group_gives_groups_out_of_reach_stays_as_it_is(security_librarian, district_admin):
    """A group may inherit from one below it (Librarian (2) under Library Staff (3)): the
    Librarian may still edit Library Staff, but not what it passes up to Librarian."""
    staff_group = group_at(Level.LIBRARY_STAFF)
    _update(district_admin, group_at(Level.LIBRARIAN), parent=staff_group)
    before = state(staff_group)
    more = [*staff_group.permissions.all(), perm("patrons.merge_patron")]
    with pytest.raises(PermissionDenied) as refused:
        _update(security_librarian, staff_group, permissions=more)
    assert str(refused.value) == INHERITED_OUT_OF_REACH.format(names="Librarian (2)")
    assert state(staff_group) == before
    _update(security_librarian, staff_group, description="Desk staff")
    assert reloaded(staff_group).description == "Desk staff"


def test_grantable_needs_the_permission(library_admin):
    staff_group = group_at(Level.LIBRARY_STAFF)
    with pytest.raises(ValidationError) as refused:
        _update(library_admin, staff_group, grantable=[perm("patrons.merge_patron")])
    assert refused.value.message_dict == {
        "grantable": [GRANTABLE_NEEDS_PERMISSION.format(labels="Merge patrons")]
    }
    assert marks(staff_group) == set()


def test_an_inherited_permission_can_be_marked_grantable(library_admin, student_aide):
    _update(library_admin, student_aide, grantable=[perm("patrons.view_patron")])
    assert policy.group_permissions(student_aide)[1] == {"patrons.view_patron"}


def test_removing_a_permission_drops_its_grantable_mark(library_admin):
    staff_group = group_at(Level.LIBRARY_STAFF)
    give(staff_group, grantable=["patrons.edit_notes"])
    kept = [p for p in staff_group.permissions.all() if p.codename != "edit_notes"]
    _update(library_admin, staff_group, permissions=kept)
    assert "patrons.edit_notes" not in own(staff_group)
    assert marks(staff_group) == set()


def test_marking_grantable_what_one_lacks_is_refused(security_librarian):
    aide_group = group_at(Level.LIBRARY_AIDE)
    give(aide_group, "sites.view_site")
    with pytest.raises(PermissionDenied, match=PERMISSION_NOT_HELD):
        _update(security_librarian, aide_group, grantable=[perm("sites.view_site")])
    assert marks(aide_group) == set()


def test_only_a_district_administrator_creates_a_level_0_group(library_admin, district_admin):
    with pytest.raises(PermissionDenied, match=LEVEL_AT_OR_ABOVE_OWN):
        security_services.group_create(actor=library_admin, name="Deputies", level=0)
    group = security_services.group_create(actor=district_admin, name="Deputies", level=0)
    assert group.level == Level.DISTRICT_ADMINISTRATOR


def test_a_district_administrator_cannot_move_or_delete_their_own_group(district_admin):
    deputies = security_services.group_create(actor=district_admin, name="Deputies", level=0)
    deputy = OperatorFactory(security_group=deputies, home_site=district_admin.home_site)
    with pytest.raises(PermissionDenied, match=OWN_GROUP_LOCKED):
        _update(deputy, deputies, level=Level.LIBRARY_ADMINISTRATOR)
    with pytest.raises(PermissionDenied, match=OWN_GROUP_LOCKED):
        security_services.group_delete(
            actor=deputy, group=deputies, move_members_to=group_at(Level.PATRON)
        )
    assert reloaded(deputies).level == Level.DISTRICT_ADMINISTRATOR


def test_the_patron_group_stays_where_new_patrons_go(library_admin):
    patron_group = preferences.default_group()
    with pytest.raises(ValidationError, match=DEFAULT_GROUP_LOCKED):
        _update(library_admin, patron_group, level=Level.LIBRARY_AIDE)
    with pytest.raises(ValidationError, match=DEFAULT_GROUP_LOCKED):
        security_services.group_delete(
            actor=library_admin, group=patron_group, move_members_to=group_at(Level.LIBRARY_AIDE)
        )
    assert preferences.default_group() == patron_group
    assert reloaded(patron_group).level == Level.PATRON


def test_changes_are_logged(library_admin):
    staff_group = group_at(Level.LIBRARY_STAFF)
    _update(
        library_admin,
        staff_group,
        description="Desk staff",
        permissions=[*staff_group.permissions.all(), perm("patrons.merge_patron")],
    )
    entry = OperatorAction.objects.get(action=OperatorAction.Kind.GROUP_CHANGED)
    assert entry.operator == library_admin
    assert entry.object_id == str(staff_group.pk)
    assert entry.details["changes"] == {"description": [staff_group.description, "Desk staff"]}
    assert entry.details["permissions"] == {"added": ["patrons.merge_patron"], "removed": []}


def test_deleting_keeps_every_member_and_every_child_permission(library_admin, student_aide, ams):
    """Members move (their history says who moved them); children inherit from the deleted
    group's parent and hold exactly what they held."""
    middle = SecurityGroupFactory(name="Desk Aide", level=Level.LIBRARY_AIDE, parent=student_aide)
    give(student_aide, "patrons.edit_notes", grantable=["patrons.edit_notes"])
    child = SecurityGroupFactory(name="Trainee", level=Level.LIBRARY_AIDE, parent=middle)
    give(middle, "patrons.edit_blocks")
    member = OperatorFactory(security_group=middle, home_site=ams)
    version = member.version
    before = policy.group_permissions(child)

    security_services.group_delete(
        actor=library_admin, group=middle, move_members_to=group_at(Level.LIBRARY_STAFF)
    )

    assert not SecurityGroup.objects.filter(pk=middle.pk).exists()
    assert reloaded(child).parent == student_aide
    assert policy.group_permissions(child) == before
    member = Patron.objects.get(pk=member.pk)
    assert member.security_group == group_at(Level.LIBRARY_STAFF)
    assert member.version == version + 1
    event = member.events.order_by("-pgh_id").first()
    assert (event.security_group_id, event.pgh_context.metadata["user"]) == (
        group_at(Level.LIBRARY_STAFF).pk,
        library_admin.pk,
    )
    entry = OperatorAction.objects.get(action=OperatorAction.Kind.GROUP_DELETED)
    assert entry.details["members_moved"] == 1


def test_members_move_only_to_a_group_one_may_assign(library_admin, student_aide, ams):
    OperatorFactory(security_group=student_aide, home_site=ams)
    with pytest.raises(ValidationError, match=GROUP_HAS_MEMBERS):
        security_services.group_delete(
            actor=library_admin, group=student_aide, move_members_to=None
        )
    with pytest.raises(PermissionDenied):
        security_services.group_delete(
            actor=library_admin,
            group=student_aide,
            move_members_to=group_at(Level.LIBRARY_ADMINISTRATOR),
        )
    assert student_aide.members.count() == 1


# --- the list -------------------------------------------------------------------------------


def test_the_list_shows_every_group_with_its_level_and_members(client, library_admin, ams):
    PatronFactory.create_batch(3, home_site=ams)
    client.force_login(library_admin)
    response = client.get(LIST)
    assert response.status_code == 200
    rows = {row.group.name: row for row in response.context["rows"]}
    assert list(rows) == [
        "District Administrator",
        "Library Administrator",
        "Librarian",
        "Library Staff",
        "Library Aide",
        "Patron",
    ]
    assert rows["Patron"].member_count == 3
    assert rows["Library Administrator"].member_count == 1
    assert [name for name, row in rows.items() if row.can_change] == [
        "Librarian",
        "Library Staff",
        "Library Aide",
        "Patron",
    ]
    content = response.content.decode()
    assert "2 · Librarian" in content
    assert "Registers patrons and edits their personal" in content


def test_the_list_takes_a_bounded_number_of_queries(
    client, library_admin, ams, django_assert_max_num_queries
):
    for n in range(8):
        group = SecurityGroupFactory(name=f"Team {n}", level=Level.LIBRARY_AIDE)
        PatronFactory.create_batch(2, home_site=ams, security_group=group)
    client.force_login(library_admin)
    with django_assert_max_num_queries(10):
        response = client.get(LIST)
    assert len(response.context["rows"]) == 14


@pytest.mark.parametrize("role", ["librarian", "staff", "aide", "patron"])
def test_the_list_needs_the_view_permission(client, roles, role):
    client.force_login(roles[role])
    assert client.get(LIST).status_code == 403


# --- editing through the page: both sides of every boundary ---------------------------------


def test_a_librarian_with_the_permission_edits_library_staff(client, security_librarian):
    """Alexandria: a Librarian given the security permission changes Library Staff..."""
    staff_group = group_at(Level.LIBRARY_STAFF)
    client.force_login(security_librarian)
    page = client.get(group_url(staff_group))
    assert page.status_code == 200 and page.context["editable"]
    response = client.post(group_url(staff_group), form_data(page, description="Desk staff"))
    assert response.status_code == 302
    assert reloaded(staff_group).description == "Desk staff"


@pytest.mark.parametrize(
    "level", [Level.LIBRARIAN, Level.LIBRARY_ADMINISTRATOR, Level.DISTRICT_ADMINISTRATOR]
)
def test_a_librarian_never_edits_their_own_level_or_above(client, security_librarian, level):
    """...and never Librarian, Library Administrator or District Administrator."""
    group = group_at(level)
    client.force_login(security_librarian)
    page = client.get(group_url(group))
    assert page.status_code == 200 and not page.context["editable"]
    assert b"Save" not in page.content
    before = state(group)
    data = {"name": "Mine", "level": Level.LIBRARY_AIDE, "description": "", "permissions": []}
    assert client.post(group_url(group), data).status_code == 403
    assert state(group) == before


@pytest.mark.parametrize("level", [Level.LIBRARY_ADMINISTRATOR, Level.DISTRICT_ADMINISTRATOR])
def test_a_library_administrator_cannot_edit_la_or_da_groups(client, library_admin, level):
    group = group_at(level)
    client.force_login(library_admin)
    page = client.get(group_url(group))
    assert shows(page, READ_ONLY_NOTE) or shows(page, PROTECTED_NOTE)
    before = state(group)
    data = form_data(page) | {"name": "Mine", "description": "changed", "permissions": []}
    assert client.post(group_url(group), data).status_code == 403
    assert client.post(delete_url(group), {}).status_code == 403
    assert state(group) == before


def test_nobody_edits_or_deletes_the_district_administrator_group(client, district_admin):
    group = SecurityGroup.objects.get(is_protected=True)
    client.force_login(district_admin)
    page = client.get(group_url(group))
    content = page.content.decode()
    assert PROTECTED_NOTE in content
    assert not page.context["editable"] and not page.context["can_delete"]
    before = state(group)
    data = {"name": "Renamed", "level": 0, "description": "", "permissions": []}
    assert client.post(group_url(group), data).status_code == 403
    assert client.get(delete_url(group)).status_code == 403
    patron_group = group_at(Level.PATRON)
    assert client.post(delete_url(group), {"move_members_to": patron_group.pk}).status_code == 403
    assert state(group) == before


@pytest.mark.parametrize("level", [Level.LIBRARY_ADMINISTRATOR, Level.DISTRICT_ADMINISTRATOR])
def test_raising_a_group_to_or_above_own_level_is_refused(client, library_admin, level):
    staff_group = group_at(Level.LIBRARY_STAFF)
    client.force_login(library_admin)
    page = client.get(group_url(staff_group))
    offered = [value for value, _ in page.context["form"].fields["level"].widget.choices]
    assert offered == [2, 3, 4, 5]
    before = state(staff_group)
    response = client.post(group_url(staff_group), form_data(page, level=str(level)))
    assert response.status_code == 403
    assert shows(response, LEVEL_AT_OR_ABOVE_OWN)
    assert state(staff_group) == before


def test_a_group_can_be_moved_to_another_level_below_ones_own(client, library_admin):
    staff_group = group_at(Level.LIBRARY_STAFF)
    client.force_login(library_admin)
    page = client.get(group_url(staff_group))
    response = client.post(group_url(staff_group), form_data(page, level="2"))
    assert response.status_code == 302
    assert reloaded(staff_group).level == Level.LIBRARIAN


def test_giving_a_permission_one_lacks_is_refused(client, security_librarian):
    staff_group = group_at(Level.LIBRARY_STAFF)
    client.force_login(security_librarian)
    page = client.get(group_url(staff_group))
    before = state(staff_group)
    response = client.post(group_url(staff_group), with_perm(form_data(page), "sites.view_site"))
    assert response.status_code == 403
    assert shows(response, GROUP_PERMISSION_NOT_HELD.format(labels="View sites"))
    assert state(staff_group) == before


def test_permissions_one_lacks_are_shown_read_only_and_kept(client, security_librarian):
    aide_group = group_at(Level.LIBRARY_AIDE)
    give(aide_group, "sites.view_site", grantable=["sites.view_site"])
    client.force_login(security_librarian)
    page = client.get(group_url(aide_group))
    row = _row(page, "sites.view_site")
    assert (row.has, row.has_editable, row.grantable, row.grantable_editable) == (
        True,
        False,
        True,
        False,
    )
    data = form_data(page, description="Shelving")
    response = client.post(group_url(aide_group), with_perm(data, "patrons.edit_notes"))
    assert response.status_code == 302
    aide_group = reloaded(aide_group)
    assert aide_group.description == "Shelving"
    assert {"sites.view_site", "patrons.edit_notes"} <= own(aide_group)
    assert marks(aide_group) == {"sites.view_site"}


@pytest.mark.parametrize("key", ["permissions", "grantable"])
def test_a_crafted_post_removing_a_permission_one_lacks_is_refused(client, security_librarian, key):
    aide_group = group_at(Level.LIBRARY_AIDE)
    give(aide_group, "sites.view_site", grantable=["sites.view_site"])
    client.force_login(security_librarian)
    page = client.get(group_url(aide_group))
    before = state(aide_group)
    data = without_perm(form_data(page, description="changed"), "sites.view_site", key)
    response = client.post(group_url(aide_group), data)
    assert response.status_code == 403
    assert shows(response, GROUP_PERMISSION_NOT_HELD.format(labels="View sites"))
    assert state(aide_group) == before


def test_a_crafted_grantable_mark_one_lacks_is_refused(client, security_librarian):
    aide_group = group_at(Level.LIBRARY_AIDE)
    give(aide_group, "sites.view_site")
    client.force_login(security_librarian)
    page = client.get(group_url(aide_group))
    before = state(aide_group)
    data = with_perm(form_data(page), "sites.view_site", "grantable")
    assert client.post(group_url(aide_group), data).status_code == 403
    assert state(aide_group) == before


def test_a_crafted_parent_of_more_power_is_refused(client, library_admin, student_aide):
    client.force_login(library_admin)
    page = client.get(group_url(student_aide))
    before = state(student_aide)
    data = form_data(page, parent=str(group_at(Level.LIBRARIAN).pk))
    response = client.post(group_url(student_aide), data)
    assert response.status_code == 422
    assert shows(response, PARENT_MORE_POWERFUL)
    assert state(student_aide) == before


def test_someone_elses_save_is_never_overwritten_unseen(client, library_admin, district_admin):
    staff_group = group_at(Level.LIBRARY_STAFF)
    client.force_login(library_admin)
    page = client.get(group_url(staff_group))
    _update(district_admin, staff_group, description="Set by the district")
    response = client.post(group_url(staff_group), form_data(page, description="Mine"))
    assert response.status_code == 422
    assert shows(response, "changed this group at")
    assert reloaded(staff_group).description == "Set by the district"
    # The page now carries the new version: saving again, knowingly, applies the change.
    response = client.post(group_url(staff_group), form_data(response, description="Mine"))
    assert response.status_code == 302
    assert reloaded(staff_group).description == "Mine"


def test_an_htmx_save_answers_with_the_editor(client, library_admin):
    staff_group = group_at(Level.LIBRARY_STAFF)
    client.force_login(library_admin)
    page = client.get(group_url(staff_group))
    response = client.post(
        group_url(staff_group), form_data(page, description="Desk"), headers={"HX-Request": "true"}
    )
    content = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in content
    assert "Security group Library Staff saved." in content


# --- the matrix -----------------------------------------------------------------------------


def _row(response, name):
    for area in response.context["matrix"]:
        for row in area.rows:
            if row.name == name:
                return row
    raise AssertionError(f"{name} is not in the matrix")


def test_the_matrix_groups_permissions_by_area_with_labels(client, library_admin):
    client.force_login(library_admin)
    response = client.get(group_url(group_at(Level.LIBRARY_STAFF)))
    matrix = response.context["matrix"]
    assert [area.label for area in matrix] == [
        "Patrons",
        "Fines",
        "Security",
        "Sites",
        "Preferences",
        "Operator log",
    ]
    checked = {row.name for area in matrix for row in area.rows if row.has}
    assert checked == own(group_at(Level.LIBRARY_STAFF))
    content = response.content.decode()
    for label in ["Edit the Contact tab", "Give operators explicit permissions", "Override blocks"]:
        assert label in content
    assert 'name="permissions" value="patrons.edit_contact" checked' in content


def test_every_declared_permission_has_a_label_and_a_single_area():
    declared = [name for area in AREAS for name, _ in area.permissions]
    assert len(declared) == len(set(declared)) == len(LABELS)


def test_a_declared_permission_appears_only_once_it_exists(client, library_admin):
    Permission.objects.filter(content_type__app_label="fines", codename="transfer_fee").delete()
    client.force_login(library_admin)
    response = client.get(group_url(group_at(Level.LIBRARY_STAFF)))
    fines = [area for area in response.context["matrix"] if area.label == "Fines"][0]
    assert "Transfer fees to the bursar" not in [row.label for row in fines.rows]
    assert "Take payments and keep a cash drawer" in [row.label for row in fines.rows]


def test_the_fines_area_shows_the_default_groups_fines_permissions(client, library_admin):
    client.force_login(library_admin)
    response = client.get(group_url(group_at(Level.LIBRARY_AIDE)))
    fines = [area for area in response.context["matrix"] if area.label == "Fines"][0]
    held = [row.name for row in fines.rows if row.has]
    assert held == ["fines.view_fee", "fines.pay_fee"]


def test_inherited_permissions_are_shown_as_such(client, library_admin, student_aide):
    client.force_login(library_admin)
    response = client.get(group_url(student_aide))
    row = _row(response, "patrons.view_patron")
    assert (row.has, row.has_editable, row.inherited_from.name) == (True, False, "Library Aide")
    assert shows(response, "Inherited from Library Aide.")
    assert not _row(response, "patrons.edit_notes").has


def test_inherited_grantable_marks_are_shown_as_such(client, library_admin, student_aide):
    give(group_at(Level.LIBRARY_AIDE), grantable=["patrons.view_patron"])
    client.force_login(library_admin)
    response = client.get(group_url(student_aide))
    row = _row(response, "patrons.view_patron")
    assert (row.grantable, row.grantable_editable) == (True, False)
    assert shows(response, "Grantable in Library Aide.")


def test_a_permission_is_marked_grantable_on_the_page(client, library_admin):
    staff_group = group_at(Level.LIBRARY_STAFF)
    client.force_login(library_admin)
    page = client.get(group_url(staff_group))
    data = with_perm(form_data(page), "patrons.edit_notes", "grantable")
    assert client.post(group_url(staff_group), data).status_code == 302
    assert marks(staff_group) == {"patrons.edit_notes"}
    assert _row(client.get(group_url(staff_group)), "patrons.edit_notes").grantable


def test_grantable_without_the_permission_is_explained(client, library_admin):
    staff_group = group_at(Level.LIBRARY_STAFF)
    client.force_login(library_admin)
    page = client.get(group_url(staff_group))
    data = with_perm(form_data(page), "patrons.merge_patron", "grantable")
    response = client.post(group_url(staff_group), data)
    assert response.status_code == 422
    message = GRANTABLE_NEEDS_PERMISSION.format(labels="Merge patrons")
    assert shows(response, message)
    assert marks(staff_group) == set()


def test_parent_choices_exclude_more_power_itself_and_descendants(
    client, library_admin, student_aide
):
    client.force_login(library_admin)
    form = client.get(group_url(group_at(Level.LIBRARY_AIDE))).context["form"]
    offered = [label for value, label in form.fields["parent"].widget.choices if value]
    assert offered == ["Librarian (2)", "Library Staff (3)", "Patron (5)"]


def test_the_group_page_takes_a_bounded_number_of_queries(
    client, library_admin, student_aide, django_assert_max_num_queries
):
    trainee = SecurityGroupFactory(name="Trainee", level=Level.LIBRARY_AIDE, parent=student_aide)
    client.force_login(library_admin)
    with django_assert_max_num_queries(20):
        page = client.get(group_url(trainee))
    with django_assert_max_num_queries(40):
        assert client.post(group_url(trainee), form_data(page)).status_code == 302


# --- creating -------------------------------------------------------------------------------


def test_a_group_is_created_with_a_parent_and_permissions(client, library_admin):
    client.force_login(library_admin)
    page = client.get(CREATE)
    data = form_data(
        page,
        name="Student Aide",
        level="4",
        description="Helps at the desk.",
        parent=str(group_at(Level.LIBRARY_AIDE).pk),
        permissions=["patrons.edit_notes"],
        grantable=["patrons.view_patron"],
    )
    response = client.post(CREATE, data)
    group = SecurityGroup.objects.get(name="Student Aide")
    assert response.status_code == 302 and response.url == group_url(group)
    assert (group.level, group.parent, group.created_by) == (
        Level.LIBRARY_AIDE,
        group_at(Level.LIBRARY_AIDE),
        library_admin,
    )
    assert own(group) == {"patrons.edit_notes"}
    held, grantable = policy.group_permissions(group)
    assert {"patrons.view_patron", "patrons.edit_notes"} <= held
    assert grantable == {"patrons.view_patron"}
    entry = OperatorAction.objects.get(action=OperatorAction.Kind.GROUP_CREATED)
    assert (entry.operator, entry.object_repr) == (library_admin, "Student Aide (4)")


@pytest.mark.parametrize("level", ["0", "1"])
def test_a_crafted_create_at_or_above_own_level_is_refused(client, library_admin, level):
    client.force_login(library_admin)
    data = {"name": "Deputies", "level": level, "description": ""}
    response = client.post(CREATE, data)
    assert response.status_code == 403
    assert shows(response, LEVEL_AT_OR_ABOVE_OWN)
    assert not SecurityGroup.objects.filter(name="Deputies").exists()


def test_a_crafted_create_with_a_permission_one_lacks_is_refused(client, security_librarian):
    give(security_librarian.security_group, "security.add_securitygroup")
    client.force_login(security_librarian)
    data = {"name": "Mappers", "level": "4", "permissions": ["sites.view_site"]}
    response = client.post(CREATE, data)
    assert response.status_code == 403
    assert not SecurityGroup.objects.filter(name="Mappers").exists()


def test_a_duplicate_name_is_explained_next_to_the_field(client, library_admin):
    client.force_login(library_admin)
    response = client.post(CREATE, {"name": "Library Aide", "level": "4"})
    assert response.status_code == 422
    assert response.context["form"].errors["name"]


@pytest.mark.parametrize("role", ["librarian", "staff"])
def test_creating_needs_the_permission(client, roles, role):
    client.force_login(roles[role])
    assert client.get(CREATE).status_code == 403
    assert client.post(CREATE, {"name": "Mine", "level": "4"}).status_code == 403
    assert not SecurityGroup.objects.filter(name="Mine").exists()


# --- deleting -------------------------------------------------------------------------------


def test_deleting_a_group_with_members_asks_where_they_go(client, library_admin, student_aide, ams):
    members = OperatorFactory.create_batch(2, security_group=student_aide, home_site=ams)
    client.force_login(library_admin)
    page = client.get(delete_url(student_aide))
    offered = [
        label
        for value, label in page.context["form"].fields["move_members_to"].widget.choices
        if value
    ]
    assert offered == ["Librarian (2)", "Library Staff (3)", "Library Aide (4)", "Patron (5)"]

    response = client.post(delete_url(student_aide), {})
    assert response.status_code == 422
    assert shows(response, GROUP_HAS_MEMBERS)

    target = group_at(Level.LIBRARY_ADMINISTRATOR)  # crafted: not offered
    assert client.post(delete_url(student_aide), {"move_members_to": target.pk}).status_code == 403
    assert SecurityGroup.objects.filter(pk=student_aide.pk).exists()

    target = group_at(Level.LIBRARY_STAFF)
    response = client.post(delete_url(student_aide), {"move_members_to": target.pk})
    assert response.status_code == 302 and response.url == LIST
    assert not SecurityGroup.objects.filter(pk=student_aide.pk).exists()
    assert {m.security_group for m in Patron.objects.filter(pk__in=[m.pk for m in members])} == {
        target
    }


def test_an_empty_group_is_deleted_without_a_question(client, library_admin, student_aide):
    client.force_login(library_admin)
    assert client.post(delete_url(student_aide), {}).status_code == 302
    assert not SecurityGroup.objects.filter(pk=student_aide.pk).exists()


def test_the_patron_group_cannot_be_deleted(client, library_admin):
    patron_group = group_at(Level.PATRON)
    client.force_login(library_admin)
    page = client.get(delete_url(patron_group))
    assert shows(page, DEFAULT_GROUP_LOCKED)
    assert b"Delete the group</button>" not in page.content
    data = {"move_members_to": group_at(Level.LIBRARY_AIDE).pk}
    response = client.post(delete_url(patron_group), data)
    assert response.status_code == 422
    assert SecurityGroup.objects.filter(pk=patron_group.pk).exists()


@pytest.mark.parametrize("role", ["librarian", "staff", "aide"])
def test_deleting_needs_the_permission(client, roles, role, student_aide):
    client.force_login(roles[role])
    assert client.post(delete_url(student_aide), {}).status_code == 403
    assert SecurityGroup.objects.filter(pk=student_aide.pk).exists()


def test_a_missing_group_is_not_found(client, library_admin):
    client.force_login(library_admin)
    assert client.get(reverse("security:group", kwargs={"pk": 999999})).status_code == 404


def test_the_dashboard_links_to_the_groups(client, library_admin):
    client.force_login(library_admin)
    response = client.get(reverse("home"))
    assert {item.title: item.url for item in response.context["checklist"]}[
        "Review security groups"
    ] == LIST
