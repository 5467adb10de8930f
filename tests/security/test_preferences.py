"""The Preferences page: who changes what, what a change may not weaken, and that the rules
read what was saved."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from patrons import record_selectors, services
from patrons.models import Patron, email_required_message
from security import policy, preferences
from security.forms.preferences import NOBODY
from security.models import Level, OperatorAction, Preferences
from security.services import (
    PREFERENCES_CHANGED_MEANWHILE,
    preferences_update,
)
from security.views.preferences import NOTHING_CHANGED, PREFERENCES_SAVED
from tests.factories import OperatorFactory, PatronFactory, SecurityGroupFactory, group_at

pytestmark = pytest.mark.django_db

URL = reverse("preferences:edit")


def form_data(client, **changes) -> dict:
    """The page's form as loaded, with `changes` typed in."""
    form = client.get(URL).context["form"]
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        data[name] = "" if value is None else getattr(value, "pk", value)
    data["initial-next_barcode_number"] = data["next_barcode_number"]
    data.update(changes)
    return data


def saved() -> Preferences:
    return Preferences.objects.get(pk=1)


# --- who edits them ---------------------------------------------------------------------


def test_the_page_shows_the_saved_preferences(client, librarian):
    client.force_login(librarian)
    response = client.get(URL)
    assert response.status_code == 200
    form = response.context["form"]
    assert form.initial["password_min_length"] == 8
    assert form.initial["two_factor_from_level"] == Level.LIBRARY_ADMINISTRATOR
    assert form.initial["default_group"] == group_at(Level.PATRON).pk
    assert NOBODY in response.content.decode()


@pytest.mark.parametrize("role", ["staff", "aide", "patron"])
def test_a_crafted_post_without_the_permission_is_refused_and_changes_nothing(client, roles, role):
    client.force_login(roles[role])
    response = client.post(URL, {"password_min_length": 6, "two_factor_from_level": ""})
    assert response.status_code == 403
    assert saved().password_min_length == 8
    assert saved().two_factor_from_level == Level.LIBRARY_ADMINISTRATOR


def test_a_librarian_saves_a_longer_minimum_and_it_is_logged(client, librarian):
    client.force_login(librarian)
    response = client.post(URL, form_data(client, password_min_length=10), follow=True)
    assert PREFERENCES_SAVED in response.content.decode()
    assert saved().password_min_length == 10
    assert saved().updated_by == librarian
    entry = OperatorAction.objects.get(action=OperatorAction.Kind.PREFERENCES_CHANGED)
    assert entry.operator == librarian
    assert entry.details["changes"] == {"password_min_length": [8, 10]}


def test_the_change_reads_in_words_in_the_log(client, library_admin):
    client.force_login(library_admin)
    client.post(URL, form_data(client, password_min_length=12))
    page = client.get(reverse("security:log")).content.decode()
    assert "Preferences changed" in page
    assert "Minimum password length: 8 → 12" in page


def test_saving_without_a_change_says_so_and_logs_nothing(client, librarian):
    client.force_login(librarian)
    response = client.post(URL, form_data(client), follow=True)
    assert NOTHING_CHANGED in response.content.decode()
    assert not OperatorAction.objects.filter(action=OperatorAction.Kind.PREFERENCES_CHANGED)


def test_bad_input_is_explained_next_to_the_field_and_nothing_is_saved(client, librarian):
    client.force_login(librarian)
    data = form_data(
        client, password_min_length=5, barcode_prefix="AB", email_required_from_level=2
    )
    response = client.post(URL, data)
    assert response.status_code == 422
    errors = response.context["form"].errors
    assert "password_min_length" in errors and "barcode_prefix" in errors
    assert saved().password_min_length == 8 and saved().barcode_prefix == "20000"


# --- what a change may not weaken (policy.preference_refusal) ----------------------------


@pytest.mark.parametrize(
    ("role", "old", "new", "refused"),
    [
        # Library Administrator (1): levels 0 and 1 stay asked.
        ("library_admin", 1, None, True),
        ("library_admin", 1, 0, True),
        ("library_admin", 1, 1, False),
        ("library_admin", 1, 2, False),
        ("library_admin", 3, 1, False),
        ("library_admin", 3, 0, True),
        ("library_admin", None, 2, False),
        # Librarian (2): may stop asking Library Staff (3), never Librarians (2).
        ("librarian", 3, 2, False),
        ("librarian", 3, 1, True),
        ("librarian", 2, None, True),
        ("librarian", 4, 2, False),
        # District Administrators decide for everyone.
        ("district_admin", 1, None, False),
        ("district_admin", 4, 0, False),
    ],
)
def test_two_factor_is_dropped_only_below_ones_own_level(roles, role, old, new, refused):
    refusal = policy.preference_refusal(roles[role], "two_factor_from_level", old, new)
    assert (refusal is not None) == refused


@pytest.mark.parametrize(
    ("name", "old", "new", "refused"),
    [
        ("password_min_length", 10, 9, True),
        ("password_min_length", 10, 10, False),
        ("password_min_length", 10, 11, False),
        ("password_policy", "upper", "letters_numbers", True),
        ("password_policy", "letters_numbers", "upper", False),
        ("email_required_from_level", 2, 0, False),
        ("home_site_access_from_level", 4, 1, False),
    ],
)
def test_only_a_district_administrator_makes_passwords_weaker(
    library_admin, district_admin, name, old, new, refused
):
    assert (policy.preference_refusal(library_admin, name, old, new) is not None) == refused
    assert policy.preference_refusal(district_admin, name, old, new) is None


def test_a_library_administrator_cannot_switch_two_factor_off(client, library_admin):
    client.force_login(library_admin)
    response = client.post(URL, form_data(client, two_factor_from_level=""))
    assert response.status_code == 422
    error = response.context["form"].errors["two_factor_from_level"][0]
    assert "District Administrator (0) and Library Administrator (1)" in error
    assert saved().two_factor_from_level == Level.LIBRARY_ADMINISTRATOR


def test_a_district_administrator_switches_two_factor_off(client, district_admin):
    client.force_login(district_admin)
    client.post(URL, form_data(client, two_factor_from_level=""))
    assert saved().two_factor_from_level is None
    assert not preferences.two_factor_required(Level.DISTRICT_ADMINISTRATOR)


def test_the_service_refuses_a_weaker_password_rule_whoever_calls_it(library_admin):
    Preferences.objects.filter(pk=1).update(password_policy="upper")
    with pytest.raises(PermissionDenied):
        preferences_update(actor=library_admin, values={"password_policy": "letters_numbers"})
    assert saved().password_policy == "upper"


def test_a_librarian_asks_more_levels_for_two_factor(client, librarian):
    client.force_login(librarian)
    client.post(URL, form_data(client, two_factor_from_level=Level.LIBRARY_STAFF))
    assert saved().two_factor_from_level == Level.LIBRARY_STAFF
    assert preferences.two_factor_required(Level.LIBRARY_STAFF)
    assert not preferences.two_factor_required(Level.LIBRARY_AIDE)


# --- the rules read what was saved ------------------------------------------------------


def test_the_password_rules_follow_the_preferences(librarian, ams):
    Preferences.objects.filter(pk=1).update(password_min_length=12)
    with pytest.raises(ValidationError):
        services.patron_create(
            actor=librarian, home_site=ams, last_name="A", username="a", password="reading4242"
        )
    created = services.patron_create(
        actor=librarian, home_site=ams, last_name="B", username="b", password="reading42424"
    )
    assert created.check_password("reading42424")


def test_the_email_requirement_follows_the_preferences(library_admin, ams):
    Preferences.objects.filter(pk=1).update(email_required_from_level=Level.LIBRARY_STAFF)
    with pytest.raises(ValidationError) as refused:
        services.patron_create(
            actor=library_admin,
            home_site=ams,
            last_name="Staff",
            security_group=group_at(Level.LIBRARY_STAFF),
        )
    assert refused.value.message_dict["email"] == [email_required_message()]
    assert "Library Staff (3)" in email_required_message()
    aide = services.patron_create(
        actor=library_admin, home_site=ams, last_name="Aide", security_group=group_at(4)
    )
    assert aide.pk is not None


def test_a_librarian_needs_no_email_when_only_administrators_must_have_one(library_admin, ams):
    Preferences.objects.filter(pk=1).update(email_required_from_level=Level.LIBRARY_ADMINISTRATOR)
    created = services.patron_create(
        actor=library_admin, home_site=ams, last_name="Lib", security_group=group_at(2)
    )
    assert created.email == ""


@pytest.mark.parametrize(
    ("threshold", "added"), [(Level.LIBRARY_AIDE, False), (Level.PATRON, True)]
)
def test_the_home_site_joins_site_access_from_the_preferred_level(librarian, ams, threshold, added):
    Preferences.objects.filter(pk=1).update(home_site_access_from_level=threshold)
    created = services.patron_create(actor=librarian, home_site=ams, last_name="Reader")
    assert created.site_access.filter(pk=ams.pk).exists() == added


def test_new_patrons_join_the_preferred_default_group(client, librarian, ams):
    students = SecurityGroupFactory(name="Students", level=Level.PATRON)
    client.force_login(librarian)
    client.post(URL, form_data(client, default_group=students.pk))
    assert saved().default_group == students
    form = client.get(reverse("patrons:register")).context["form"]
    assert form.initial["security_group"] == students.pk
    created = services.patron_create(actor=librarian, home_site=ams, last_name="New")
    assert created.security_group == students


def test_a_staff_group_cannot_become_the_default_for_new_patrons(client, library_admin):
    client.force_login(library_admin)
    response = client.post(URL, form_data(client, default_group=group_at(Level.LIBRARIAN).pk))
    assert response.status_code == 422
    assert "default_group" in response.context["form"].errors
    assert saved().default_group == group_at(Level.PATRON)


def test_the_default_group_cannot_be_deleted(library_admin):
    students = SecurityGroupFactory(name="Students", level=Level.PATRON)
    Preferences.objects.filter(pk=1).update(default_group=students)
    from security.services import DEFAULT_GROUP_LOCKED, group_delete_refusal

    assert group_delete_refusal(actor=library_admin, group=students) == DEFAULT_GROUP_LOCKED
    assert group_delete_refusal(actor=library_admin, group=group_at(Level.PATRON)) is None


def test_the_next_barcode_follows_prefix_and_number(client, librarian):
    client.force_login(librarian)
    client.post(URL, form_data(client, barcode_prefix="31", next_barcode_number=500))
    assert record_selectors.next_barcode() == "31000000500"
    assert record_selectors.next_barcode() == "31000000501"
    entry = OperatorAction.objects.get(action=OperatorAction.Kind.PREFERENCES_CHANGED)
    assert entry.details["changes"]["barcode_prefix"] == ["20000", "31"]
    assert entry.details["changes"]["next_barcode_number"][1] == 500


def test_saving_other_preferences_does_not_set_the_counter_back(client, librarian):
    client.force_login(librarian)
    data = form_data(client, password_min_length=9)
    for _ in range(3):  # registrations while the page was open
        record_selectors.next_barcode()
    ahead = record_selectors.peek_next_barcode_serial()
    client.post(URL, data)
    assert saved().password_min_length == 9
    assert record_selectors.peek_next_barcode_serial() == ahead


def test_a_stale_save_is_refused_with_who_changed_them(client, librarian, library_admin):
    client.force_login(librarian)
    stale = form_data(client, password_min_length=9)
    preferences_update(actor=library_admin, values={"email_required_from_level": 1})
    response = client.post(URL, stale)
    assert response.status_code == 409
    message = PREFERENCES_CHANGED_MEANWHILE.split("{who}")[1].split("{when}")[0]
    assert message in response.content.decode()
    assert library_admin.display_name in response.content.decode()
    assert saved().password_min_length == 8
    assert response.context["form"].initial["email_required_from_level"] == 1


# --- read once per request --------------------------------------------------------------


def test_a_page_reads_the_preferences_once(client, library_admin, ams):
    target = OperatorFactory(level=Level.LIBRARY_STAFF, home_site=ams)
    client.force_login(library_admin)
    url = reverse("patrons:tab", kwargs={"pk": target.pk, "tab": "access"})
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    reads = [q for q in queries.captured_queries if 'FROM "security_preferences"' in q["sql"]]
    assert len(reads) == 1


def test_a_change_is_seen_by_the_next_request(client, librarian, ams):
    target = PatronFactory(home_site=ams)
    client.force_login(librarian)
    url = reverse("patrons:tab", kwargs={"pk": target.pk, "tab": "access"})
    assert client.get(url).context["password_min_length"] == 8
    Preferences.objects.filter(pk=1).update(password_min_length=11)
    assert client.get(url).context["password_min_length"] == 11


def test_the_page_needs_few_queries(client, librarian, django_assert_max_num_queries):
    client.force_login(librarian)
    with django_assert_max_num_queries(18):
        assert client.get(URL).status_code == 200


def test_a_patron_saved_without_a_request_reads_the_row(librarian, ams):
    Preferences.objects.filter(pk=1).update(home_site_access_from_level=Level.PATRON)
    created = services.patron_create(actor=librarian, home_site=ams, last_name="Cli")
    assert list(created.site_access.all()) == [ams]
    assert Patron.objects.get(pk=created.pk).needs_home_site_access
