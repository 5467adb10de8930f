"""The Contact tab's service: one primary email and Patron.email in step with it, the
email/mail channel rule, undeliverable addresses, email required from Librarian up, stale
edits, and nothing half-saved."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patrons import services
from patrons.models import Guardian, Patron, PatronEmail, PatronPhone, email_required_message
from patrons.services import AddressEntry, EmailEntry, GuardianEntry, PhoneEntry
from security.models import Level
from tests.factories import OperatorFactory, PatronFactory

pytestmark = pytest.mark.django_db

MAIL, EMAIL = Patron.Channel.MAIL, Patron.Channel.EMAIL


def save(actor, patron, *, version=None, fields=None, **parts):
    patron.refresh_from_db()
    rows = {"emails": [], "addresses": [], "phones": [], "guardians": []} | parts
    return services.patron_contact_update(
        actor=actor,
        patron=patron,
        version=patron.version if version is None else version,
        fields=fields or {},
        **rows,
    )


def kept(patron, **changes):
    """The patron's current emails as entries, to pass back with some changes."""
    return [
        EmailEntry(
            id=row.pk,
            address=changes.get(row.address, row.address),
            kind=row.kind,
            is_primary=row.is_primary,
            is_undeliverable=row.is_undeliverable,
        )
        for row in PatronEmail.objects.filter(patron=patron)
    ]


@pytest.fixture
def bare(ams):
    """A patron without any email, notices by mail."""
    return PatronFactory(home_site=ams, email="", communication_channel=MAIL)


def test_the_first_email_becomes_primary_and_notices_go_by_email(staff, bare):
    saved = save(staff, bare, emails=[EmailEntry("Ada@Example.ORG"), EmailEntry("b@example.org")])
    bare.refresh_from_db()
    primary = PatronEmail.objects.get(patron=bare, is_primary=True)
    assert primary.address == "Ada@example.org"
    assert bare.email == "Ada@example.org"
    assert bare.communication_channel == EMAIL
    assert saved.channel_switched_to == EMAIL
    assert services.CHANNEL_SWITCHED[EMAIL] == services.CHANNEL_TO_EMAIL


def test_choosing_another_primary_moves_it_and_patron_email_follows(staff, bare):
    save(staff, bare, emails=[EmailEntry("a@example.org"), EmailEntry("b@example.org")])
    first, second = kept(bare)
    save(
        staff,
        bare,
        emails=[
            EmailEntry(id=first.id, address=first.address, is_primary=False),
            EmailEntry(id=second.id, address=second.address, is_primary=True),
        ],
    )
    bare.refresh_from_db()
    assert list(PatronEmail.objects.filter(patron=bare, is_primary=True)) == [
        PatronEmail.objects.get(pk=second.id)
    ]
    assert bare.email == "b@example.org"


def test_two_primaries_are_refused(staff, bare):
    two = [
        EmailEntry("a@example.org", is_primary=True),
        EmailEntry("b@example.org", is_primary=True),
    ]
    with pytest.raises(ValidationError) as refused:
        save(staff, bare, emails=two)
    assert refused.value.message_dict["emails"] == [services.ONE_PRIMARY]
    assert not PatronEmail.objects.filter(patron=bare).exists()


def test_duplicate_and_invalid_emails_are_refused(staff, bare):
    with pytest.raises(ValidationError) as refused:
        save(staff, bare, emails=[EmailEntry("a@example.org"), EmailEntry("A@example.org")])
    assert services.DUPLICATE_EMAIL in refused.value.message_dict["emails"][0]
    with pytest.raises(ValidationError):
        save(staff, bare, emails=[EmailEntry("not-an-email")])
    assert not PatronEmail.objects.filter(patron=bare).exists()


def test_removing_the_last_email_sends_notices_by_mail(staff, bare):
    save(staff, bare, emails=[EmailEntry("a@example.org")])
    saved = save(staff, bare, emails=[], fields={"communication_channel": EMAIL})
    bare.refresh_from_db()
    assert (bare.email, bare.communication_channel) == ("", MAIL)
    assert saved.channel_switched_to == MAIL
    assert services.CHANNEL_SWITCHED[MAIL] == "No email left: notices will go by mail."


def test_an_operator_choosing_mail_while_adding_an_email_keeps_mail(staff, ams):
    patron = PatronFactory(home_site=ams, email="", communication_channel=EMAIL)
    saved = save(
        staff, patron, emails=[EmailEntry("a@example.org")], fields={"communication_channel": MAIL}
    )
    patron.refresh_from_db()
    assert (patron.communication_channel, saved.channel_switched_to) == (MAIL, None)


def test_email_channel_without_any_email_is_refused(staff, bare):
    with pytest.raises(ValidationError) as refused:
        save(staff, bare, fields={"communication_channel": EMAIL})
    assert refused.value.message_dict["communication_channel"] == [services.CHANNEL_NEEDS_EMAIL]


@pytest.mark.parametrize(
    ("level", "needs_email"),
    [(Level.LIBRARY_ADMINISTRATOR, True), (Level.LIBRARIAN, True), (Level.LIBRARY_STAFF, False)],
)
def test_the_last_email_stays_from_librarian_up(district_admin, ams, level, needs_email):
    operator = OperatorFactory(home_site=ams, level=level, email="")
    save(district_admin, operator, emails=[EmailEntry("op@example.org")])
    if needs_email:
        with pytest.raises(ValidationError) as refused:
            save(district_admin, operator, emails=[])
        assert refused.value.message_dict["emails"] == [email_required_message()]
        operator.refresh_from_db()
        assert operator.email == "op@example.org"
        assert PatronEmail.objects.filter(patron=operator).count() == 1
    else:
        save(district_admin, operator, emails=[])
        operator.refresh_from_db()
        assert operator.email == ""


def test_correcting_an_undeliverable_address_clears_the_flag(staff, bare):
    save(staff, bare, emails=[EmailEntry("typo@exmaple.org", is_undeliverable=True)])
    [entry] = kept(bare)
    assert entry.is_undeliverable
    save(staff, bare, emails=kept(bare))  # saved again unchanged: still undeliverable
    assert PatronEmail.objects.get(pk=entry.id).is_undeliverable
    save(staff, bare, emails=kept(bare, **{"typo@exmaple.org": "typo@example.org"}))
    row = PatronEmail.objects.get(pk=entry.id)
    assert (row.address, row.is_undeliverable) == ("typo@example.org", False)


def test_a_stale_save_is_refused_and_nothing_is_saved(staff, librarian, bare):
    loaded = Patron.objects.get(pk=bare.pk).version
    save(librarian, bare, phones=[PhoneEntry("555 0100 22")])
    with pytest.raises(services.StaleEdit):
        save(staff, bare, version=loaded, emails=[EmailEntry("late@example.org")], phones=[])
    assert not PatronEmail.objects.filter(patron=bare).exists()
    assert PatronPhone.objects.get(patron=bare).number == "555 0100 22"


def test_a_contact_change_raises_the_version_and_stamps_the_rows(staff, bare):
    before = Patron.objects.get(pk=bare.pk).version
    save(staff, bare, guardians=[GuardianEntry("Grace Hopper", relationship="Mother")])
    bare.refresh_from_db()
    guardian = Guardian.objects.get(patron=bare)
    assert bare.version == before + 1
    assert (bare.updated_by, guardian.created_by, guardian.updated_by) == (staff, staff, staff)
    event = guardian.events.order_by("-pgh_id").first()
    assert event.pgh_context.metadata["user"] == staff.pk


def test_rows_are_updated_and_removed(staff, bare):
    save(
        staff,
        bare,
        addresses=[AddressEntry("1 Main St"), AddressEntry("2 Side St", city="Ames")],
        phones=[PhoneEntry("+1 (555) 010-0200")],
    )
    first, second = bare.addresses.order_by("pk")
    assert first.is_preferred and not second.is_preferred
    save(
        staff,
        bare,
        addresses=[AddressEntry("2 Side Street", city="Ames", is_preferred=True, id=second.pk)],
    )
    [address] = bare.addresses.all()
    assert (address.pk, address.street, address.is_preferred) == (second.pk, "2 Side Street", True)
    assert not bare.phones.exists()


@pytest.mark.parametrize("number", ["12345", "555-0100 ext 3", "+" + "1" * 21])
def test_bad_phone_numbers_are_refused(staff, bare, number):
    with pytest.raises(ValidationError) as refused:
        save(staff, bare, phones=[PhoneEntry(number)])
    assert services.INVALID_PHONE in refused.value.message_dict["phones"][0]


def test_another_patrons_row_cannot_be_edited_through_this_one(staff, bare, ams):
    other = PatronFactory(home_site=ams, email="")
    save(staff, other, emails=[EmailEntry("other@example.org")])
    [theirs] = kept(other)
    with pytest.raises(ValidationError):
        save(staff, bare, emails=[EmailEntry("mine@example.org", id=theirs.id)])
    assert PatronEmail.objects.get(pk=theirs.id).address == "other@example.org"


def test_without_the_permission_nothing_is_saved(aide, bare):
    with pytest.raises(PermissionDenied):
        save(aide, bare, emails=[EmailEntry("a@example.org")])
    assert not PatronEmail.objects.filter(patron=bare).exists()


addresses = st.sampled_from(["a@example.org", "b@example.org", "c@example.org", "d@example.org"])


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(st.lists(addresses, unique=True, max_size=3), min_size=1, max_size=4))
def test_any_sequence_of_saves_keeps_the_contact_rules(staff, ams, steps):
    patron = PatronFactory(home_site=ams, email="", communication_channel=MAIL)
    for wanted in steps:
        save(staff, patron, emails=[EmailEntry(address) for address in wanted])
        patron.refresh_from_db()
        primaries = list(PatronEmail.objects.filter(patron=patron, is_primary=True))
        assert len(primaries) == (1 if wanted else 0)
        assert patron.email == (primaries[0].address if wanted else "")
        assert patron.communication_channel == (EMAIL if wanted else MAIL)
