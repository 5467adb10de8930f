from datetime import timedelta

import pytest
from django.db.models import F
from django.test import RequestFactory
from django.urls import reverse

from security.context_processors import STAFF_NAVIGATION, navigation
from security.models import Level, SecurityGroup
from tests.factories import OperatorFactory, PatronFactory, SecurityGroupFactory, SiteFactory

pytestmark = pytest.mark.django_db

HOME = reverse("home")
OPERATORS = ["district_admin", "library_admin", "librarian", "staff", "aide"]


def _titles(response, done=None):
    return [
        item.title for item in response.context["checklist"] if done is None or item.done is done
    ]


@pytest.fixture
def lone_district_admin(district):
    """Right after install: one site, one District Administrator."""
    return OperatorFactory(level=Level.DISTRICT_ADMINISTRATOR, home_site=district)


def test_anonymous_users_go_to_the_login_page(client):
    response = client.get(HOME)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_patrons_go_to_their_own_page(client, patron):
    client.force_login(patron)
    response = client.get(HOME)
    assert (response.status_code, response.url) == (302, reverse("me"))


@pytest.mark.parametrize("role", OPERATORS)
def test_operators_are_greeted(client, roles, role):
    user = roles[role]
    client.force_login(user)
    response = client.get(HOME)
    assert response.status_code == 200
    assert f"Welcome, {user.get_short_name()}" in response.content.decode()


def test_right_after_install_nothing_is_ticked(client, lone_district_admin):
    client.force_login(lone_district_admin)
    response = client.get(HOME)
    assert _titles(response, done=False) == [
        "Create your sites",
        "Add operators",
        "Review security groups",
    ]


def test_items_tick_themselves_off_from_the_data(client, lone_district_admin, district):
    client.force_login(lone_district_admin)
    SiteFactory(code="AMS", parent=district)
    OperatorFactory(level=Level.LIBRARY_STAFF, home_site=district)
    response = client.get(HOME)
    assert _titles(response, done=True) == ["Create your sites", "Add operators"]
    assert b"2 of 3 done" in response.content


def test_a_patron_is_not_an_operator_for_the_checklist(client, lone_district_admin, district):
    client.force_login(lone_district_admin)
    PatronFactory(home_site=district)
    assert "Add operators" in _titles(client.get(HOME), done=False)


@pytest.mark.parametrize("change", ["edited", "new_group"])
def test_reviewing_groups_is_ticked_by_a_change(client, lone_district_admin, change):
    client.force_login(lone_district_admin)
    if change == "edited":
        SecurityGroup.objects.filter(level=Level.LIBRARIAN).update(
            updated_at=F("created_at") + timedelta(minutes=5)
        )
    else:
        SecurityGroupFactory(name="Student Aide", level=Level.LIBRARY_AIDE)
    assert "Review security groups" in _titles(client.get(HOME), done=True)


def test_the_checklist_disappears_when_everything_is_done(client, district_admin, library_admin):
    SecurityGroupFactory(name="Student Aide", level=Level.LIBRARY_AIDE)
    client.force_login(district_admin)
    response = client.get(HOME)
    assert response.context["checklist"] == []
    assert b"Getting started" not in response.content


def test_items_link_where_the_work_is_done(client, lone_district_admin, library_admin):
    client.force_login(lone_district_admin)
    links = {item.title: item.url for item in client.get(HOME).context["checklist"]}
    assert links == {
        "Create your sites": reverse("sites:list"),
        "Add operators": reverse("patrons:register"),
        "Review security groups": reverse("security:groups"),
    }

    client.force_login(library_admin)
    links = {item.title: item.url for item in client.get(HOME).context["checklist"]}
    assert links["Create your sites"] == reverse("sites:list")
    assert links["Add operators"] == reverse("patrons:register")
    assert links["Review security groups"] == reverse("security:groups")


@pytest.mark.parametrize("role", ["librarian", "staff", "aide"])
def test_operators_with_nothing_left_to_act_on_see_no_checklist(client, roles, role):
    """A Librarian may add operators, and is one: their only item is done."""
    client.force_login(roles[role])
    response = client.get(HOME)
    assert _titles(response) == []
    assert b"Getting started" not in response.content


def test_a_library_admin_sees_what_is_left(client, roles):
    client.force_login(roles["library_admin"])
    response = client.get(HOME)
    assert _titles(response, done=False) == ["Review security groups"]
    assert b"2 of 3 done" in response.content


def test_counts_are_within_the_operators_scope(client, library_admin, ams_branch, jes, roles):
    PatronFactory.create_batch(2, home_site=ams_branch)
    PatronFactory.create_batch(3, home_site=jes)
    client.force_login(library_admin)
    response = client.get(HOME)
    # AMS: library_admin, librarian, staff, aide, patron; AMSB: 2.
    assert (response.context["patron_count"], response.context["site_count"]) == (7, 2)

    client.force_login(roles["district_admin"])
    response = client.get(HOME)
    # ... and JES: 3 + jeslibrarian; DIST: district_admin.
    assert (response.context["patron_count"], response.context["site_count"]) == (12, 4)


def test_dashboard_queries_are_bounded(client, roles, django_assert_max_num_queries):
    PatronFactory.create_batch(20, home_site=roles["staff"].home_site)
    client.force_login(roles["library_admin"])
    # 12: the 11 of the page, and the two-factor device of the verified session.
    with django_assert_max_num_queries(12):
        assert client.get(HOME).status_code == 200


# --- the navigation ------------------------------------------------------------------------


def _labels(response):
    return [item["label"] for item in response.context["staff_navigation"]]


def test_every_navigation_entry_has_a_page():
    for entry in STAFF_NAVIGATION:
        assert reverse(entry.url_name)


def test_anonymous_users_get_no_navigation_and_no_query(django_assert_num_queries):
    from django.contrib.auth.models import AnonymousUser

    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    with django_assert_num_queries(0):
        assert navigation(request) == {"staff_navigation": []}


def test_patrons_get_no_staff_navigation(patron):
    request = RequestFactory().get("/me/")
    request.user = patron
    assert navigation(request) == {"staff_navigation": []}


@pytest.mark.parametrize(
    ("role", "labels"),
    [
        (
            "district_admin",
            ["Dashboard", "Patrons", "Sites", "Security", "Log", "Cash", "Preferences"],
        ),
        (
            "library_admin",
            ["Dashboard", "Patrons", "Sites", "Security", "Log", "Cash", "Preferences"],
        ),
        ("librarian", ["Dashboard", "Patrons", "Cash", "Preferences"]),
        ("aide", ["Dashboard", "Patrons", "Cash"]),
    ],
)
def test_navigation_follows_permissions(client, roles, role, labels):
    client.force_login(roles[role])
    assert _labels(client.get(HOME)) == labels


def test_the_active_section_matches_the_url_prefix(client, library_admin):
    client.force_login(library_admin)
    nav = client.get(reverse("sites:create")).context["staff_navigation"]
    assert [(item["label"], item["active"]) for item in nav] == [
        ("Dashboard", False),
        ("Patrons", False),
        ("Sites", True),
        ("Security", False),
        ("Log", False),
        ("Cash", False),
        ("Preferences", False),
    ]
    nav = client.get(HOME).context["staff_navigation"]
    assert [item["active"] for item in nav] == [True, False, False, False, False, False, False]


def test_explicit_grants_belong_to_the_security_section(client, library_admin):
    client.force_login(library_admin)
    nav = client.get(reverse("security:grants")).context["staff_navigation"]
    assert [item["label"] for item in nav if item["active"]] == ["Security"]
    groups = client.get(reverse("security:groups")).content.decode()
    assert f'href="{reverse("security:grants")}"' in groups


# --- error pages ---------------------------------------------------------------------------


def test_refusals_and_missing_pages_are_explained_in_the_layout(client, patron, library_admin):
    client.force_login(patron)
    response = client.get(reverse("sites:list"))
    assert response.status_code == 403
    assert b"You are not allowed to do that" in response.content

    client.force_login(library_admin)
    response = client.get(reverse("sites:edit", args=[999999]))
    assert response.status_code == 404
    assert b"We could not find that page" in response.content
    assert b"Sign out" in response.content  # the full layout, with the operator's menu


def test_the_server_error_page_needs_no_request():
    from django.template.loader import render_to_string

    assert "Something went wrong" in render_to_string("500.html")
