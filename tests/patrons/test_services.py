"""Rule 6 and registration through patron services."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from patrons import services
from patrons.models import Patron, email_required_message
from security.models import Level, Preferences
from tests.factories import PatronFactory, group_at

pytestmark = pytest.mark.django_db


def test_new_patron_defaults_to_the_patron_group(staff, ams):
    created = services.patron_create(actor=staff, home_site=ams, last_name="Lovelace")
    assert created.security_group.level == Level.PATRON
    assert created.created_by == staff
    assert not created.has_usable_password()


def test_a_registered_email_is_the_primary_contact_email(staff, ams):
    created = services.patron_create(
        actor=staff, home_site=ams, last_name="Lovelace", email="ada@example.org"
    )
    assert [(e.address, e.is_primary) for e in created.emails.all()] == [("ada@example.org", True)]
    without = services.patron_create(actor=staff, home_site=ams, last_name="Byron")
    assert not without.emails.exists()


def test_registering_at_a_site_outside_scope_is_refused(staff, jes):
    with pytest.raises(PermissionDenied):
        services.patron_create(actor=staff, home_site=jes, last_name="Outside")
    assert not Patron.objects.filter(last_name="Outside").exists()


@pytest.mark.parametrize(
    ("level", "needs_email"),
    [
        (Level.LIBRARY_ADMINISTRATOR, True),
        (Level.LIBRARIAN, True),
        (Level.LIBRARY_STAFF, False),
        (Level.PATRON, False),
    ],
)
def test_email_required_from_librarian_up(district_admin, ams, level, needs_email):
    patron = PatronFactory(home_site=ams, email="")
    assign = lambda: services.patron_assign_group(  # noqa: E731
        actor=district_admin, patron=patron, group=group_at(level)
    )
    if needs_email:
        with pytest.raises(ValidationError) as error:
            assign()
        assert error.value.message_dict["email"] == [email_required_message()]
        assert Patron.objects.get(pk=patron.pk).security_group.level == Level.PATRON
    else:
        assign()
        assert Patron.objects.get(pk=patron.pk).security_group.level == level


@pytest.mark.parametrize(
    ("level", "gets_home_site"),
    [(Level.LIBRARY_STAFF, True), (Level.LIBRARY_AIDE, True), (Level.PATRON, False)],
)
@pytest.mark.usefixtures("librarians_give_staff_groups")
def test_home_site_added_to_site_access_from_library_aide_up(librarian, ams, level, gets_home_site):
    patron = PatronFactory(home_site=ams)
    services.patron_assign_group(actor=librarian, patron=patron, group=group_at(level))
    assert (ams in patron.site_access.all()) is gets_home_site


def test_weak_password_is_refused_and_nothing_saved(librarian, ams):
    with pytest.raises(ValidationError):
        services.patron_create(
            actor=librarian, home_site=ams, last_name="Weak", username="weak", password="abcdefgh"
        )
    assert not Patron.objects.filter(username="weak").exists()


def test_password_with_letters_and_numbers_is_accepted(librarian, ams):
    created = services.patron_create(
        actor=librarian, home_site=ams, last_name="Strong", username="strong", password="reading42"
    )
    assert created.check_password("reading42")


def test_stricter_password_policy_asks_for_upper_lower_and_digit(librarian, ams):
    Preferences.objects.filter(pk=1).update(password_policy="upper")
    with pytest.raises(ValidationError):
        services.patron_create(
            actor=librarian, home_site=ams, last_name="Lower", username="l", password="reading42"
        )
    created = services.patron_create(
        actor=librarian, home_site=ams, last_name="Upper", username="u", password="Reading42"
    )
    assert created.check_password("Reading42")


def test_protected_patron_cannot_be_deleted(librarian, ams):
    protected = PatronFactory(home_site=ams, is_protected=True)
    with pytest.raises(ValidationError, match=services.PROTECTED_PATRON):
        services.patron_delete(actor=librarian, patron=protected)
    assert Patron.objects.filter(pk=protected.pk).exists()


def test_history_records_the_acting_operator(librarian, ams):
    patron = PatronFactory(home_site=ams)
    services.patron_set_status(actor=librarian, patron=patron, status=Patron.Status.CARD_LOST)
    event = patron.events.order_by("-pgh_id").first()
    assert event.status == Patron.Status.CARD_LOST
    assert event.pgh_context.metadata["user"] == librarian.pk


def test_registering_with_a_group_other_than_the_default_needs_access_rights(staff, ams):
    with pytest.raises(PermissionDenied):
        services.patron_create(
            actor=staff,
            home_site=ams,
            last_name="Aide",
            security_group=group_at(Level.LIBRARY_AIDE),
        )
    assert not Patron.objects.filter(last_name="Aide").exists()
