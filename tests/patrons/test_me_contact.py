"""A patron edits their own contact details (/me/contact/) with the Contact tab's rules:
what they may change, what stays the library's (names, birth date, contacts, notice opt-ins,
the additional email, bounce flags), the stale-edit check, and crafted posts that reach for
another patron's rows or the staff-only fields and change nothing."""

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.formats import date_format

from patrons import services
from patrons.forms.contact import ROW_GONE
from patrons.forms.me import KEEP_HISTORY_HELP
from patrons.models import Guardian, Patron, PatronEmail, PatronPhone, email_required_message
from patrons.services import (
    CHANNEL_NEEDS_EMAIL,
    DUPLICATE_EMAIL,
    INVALID_PHONE,
    UNKNOWN_ROW,
    AddressEntry,
    EmailEntry,
    GuardianEntry,
    PhoneEntry,
)
from patrons.views.me import CHANGED_MEANWHILE, DETAILS_SAVED
from security import policy
from tests.factories import PatronFactory
from tests.patrons.test_contact_tab import form_data, messages_of

pytestmark = pytest.mark.django_db

URL = reverse("me_contact")


def fill(staff, patron, **overrides):
    """Two emails (a@ primary), an address, a phone and a guardian, saved by staff."""
    arguments = {
        "fields": {},
        "emails": [
            EmailEntry(f"a{patron.pk}@example.org"),
            EmailEntry(f"b{patron.pk}@example.org"),
        ],
        "addresses": [AddressEntry("1 Library Lane", city="Springfield")],
        "phones": [PhoneEntry("555 0100 11")],
        "guardians": [GuardianEntry("Grace Hopper", relationship="Mother")],
    } | overrides
    services.patron_contact_update(actor=staff, patron=patron, version=patron.version, **arguments)
    patron.refresh_from_db()
    return patron


@pytest.fixture
def reader(staff, ams):
    """The `patron` role ("patron"), with contact rows and a birth date."""
    patron = PatronFactory(
        username="reader",
        home_site=ams,
        first_name="Ada",
        last_name="Byron",
        birth_date=date(2012, 12, 10),
        email="",
        communication_channel=Patron.Channel.MAIL,
    )
    return fill(staff, patron)


@pytest.fixture
def signed_in(client, reader):
    client.force_login(reader)
    return client


def editor_data(client) -> dict:
    response = client.get(URL)
    assert response.status_code == 200
    return form_data(response)


def snapshot(patron: Patron) -> dict:
    """What the patron's record and rows hold, to compare before and after a post."""
    patron = Patron.objects.get(pk=patron.pk)
    row_values = {
        "emails": ["address", "kind", "is_primary", "is_undeliverable"],
        "addresses": ["street", "city", "is_preferred"],
        "phones": ["number", "kind", "is_preferred"],
        "guardians": ["name", "relationship", "email", "phone", "receives_notices"],
    }
    return {
        "record": {
            field.attname: getattr(patron, field.attname)
            for field in Patron._meta.concrete_fields
            if field.name not in ("updated_at", "last_login")
        },
        **{
            name: list(getattr(patron, name).order_by("pk").values_list("pk", *fields))
            for name, fields in row_values.items()
        },
    }


# --- what the page offers ------------------------------------------------------------------


def test_names_and_birth_date_are_shown_not_offered(signed_in, reader):
    page = signed_in.get(URL).content.decode()

    assert "Ada" in page and "Byron" in page and date_format(reader.birth_date) in page
    assert f"To correct these, contact {reader.home_site.name}" in page
    data = form_data(signed_in.get(URL))
    for name in ("first_name", "last_name", "preferred_first_name", "birth_date"):
        assert name not in data
    assert KEEP_HISTORY_HELP in page


def test_the_staff_only_parts_are_not_offered(signed_in):
    data = editor_data(signed_in)

    assert not [name for name in data if name.startswith("guardians-")]
    for name in ("additional_email", "notify_overdue", "notify_hold_ready", "notify_fines"):
        assert name not in data
    assert not [name for name in data if name.endswith("is_undeliverable")]
    assert {"communication_channel", "language", "version", "emails-0-address"} <= set(data)


# --- saving --------------------------------------------------------------------------------


def test_a_patron_changes_a_phone_and_their_settings(signed_in, reader):
    data = editor_data(signed_in) | {
        "phones-0-number": "+44 20 7946 0018",
        "language": "fr",
        "keep_history": "on",
    }

    response = signed_in.post(URL, data, follow=True)

    assert response.redirect_chain == [(reverse("me"), 302)]
    assert messages_of(response) == [DETAILS_SAVED]
    reader.refresh_from_db()
    assert reader.phones.get().number == "+44 20 7946 0018"
    assert (reader.language, reader.keep_history) == ("fr", True)
    assert reader.updated_by == reader
    assert reader.guardians.get().name == "Grace Hopper"
    assert "+44 20 7946 0018" in response.content.decode()


def test_rows_are_added_without_javascript_and_removed(signed_in, reader):
    grown = signed_in.post(URL, editor_data(signed_in) | {"add_phones": "1"})
    assert grown.status_code == 200 and reader.phones.count() == 1
    data = form_data(grown) | {"phones-1-number": "555 0199 77", "phones-0-DELETE": "on"}
    data["emails-1-DELETE"] = "on"

    assert signed_in.post(URL, data).status_code == 302

    assert list(reader.phones.values_list("number", "is_preferred")) == [("555 0199 77", True)]
    assert list(reader.emails.values_list("address", flat=True)) == [f"a{reader.pk}@example.org"]


def test_the_same_rules_as_the_staff_tab(signed_in, reader):
    data = editor_data(signed_in) | {
        "phones-0-number": "call me",
        "emails-1-address": f"A{reader.pk}@example.org",
    }
    before = snapshot(reader)

    response = signed_in.post(URL, data)

    assert response.status_code == 422
    page = response.content.decode()
    assert INVALID_PHONE in page and DUPLICATE_EMAIL in page
    assert snapshot(reader) == before


def test_notices_go_by_email_only_with_an_email(client, staff, ams):
    patron = fill(staff, PatronFactory(home_site=ams, email=""), emails=[])
    client.force_login(patron)
    data = editor_data(client) | {"communication_channel": "email"}

    response = client.post(URL, data)

    assert response.status_code == 422
    assert CHANNEL_NEEDS_EMAIL in response.content.decode()


def test_an_operator_edits_their_own_details_here_under_the_same_rules(client, librarian):
    """The staff tab refuses an operator's own record (rule 4); the own page does not, and
    a Librarian still keeps an email."""
    client.force_login(librarian)
    data = editor_data(client)
    assert data["emails-0-address"] == librarian.email  # the email from before typed rows

    refused = client.post(URL, data | {"emails-0-DELETE": "on"})

    assert refused.status_code == 422
    assert email_required_message() in refused.content.decode()
    saved = client.post(URL, data | {"emails-0-address": "new.librarian@example.org"})
    assert saved.status_code == 302
    librarian.refresh_from_db()
    assert librarian.email == "new.librarian@example.org"


def test_a_corrected_bounced_address_is_presumed_deliverable(signed_in, reader):
    PatronEmail.objects.filter(patron=reader).update(is_undeliverable=True)
    data = editor_data(signed_in) | {"emails-0-address": f"fixed{reader.pk}@example.org"}

    assert signed_in.post(URL, data).status_code == 302

    flags = dict(reader.emails.values_list("address", "is_undeliverable"))
    assert flags == {f"fixed{reader.pk}@example.org": False, f"b{reader.pk}@example.org": True}


def test_a_stale_edit_is_refused_and_the_page_shows_what_is_saved(signed_in, reader, staff):
    data = editor_data(signed_in) | {"phones-0-number": "555 0100 99"}
    services.patron_update(
        actor=staff,
        patron=reader,
        action="patrons.edit_personal",
        version=reader.version,
        cohort="7B",
    )

    response = signed_in.post(URL, data)

    assert response.status_code == 422
    page = response.content.decode()
    assert CHANGED_MEANWHILE in page
    assert "555 0100 11" in page and "555 0100 99" not in page
    assert reader.phones.get().number == "555 0100 11"
    assert form_data(response)["version"] == str(Patron.objects.get(pk=reader.pk).version)


# --- crafted posts -------------------------------------------------------------------------


def test_names_birth_date_and_staff_fields_cannot_be_posted(signed_in, reader):
    before = snapshot(reader)
    crafted = editor_data(signed_in) | {
        "first_name": "Eve",
        "last_name": "Mallory",
        "preferred_first_name": "Evil",
        "birth_date": "1970-01-01",
        "barcode": "X1",
        "status": "active",
        "expiry_date": "2099-12-31",
        "username": "admin",
        "security_group": "1",
        "must_change_password": "on",
        "additional_email": "spy@example.org",
        "notify_overdue": "",
        "notify_fines": "",
    }

    assert signed_in.post(URL, crafted).status_code == 302

    after = snapshot(reader)
    assert after["record"].pop("version") == before["record"].pop("version") + 1
    assert after["record"].pop("updated_by_id") == reader.pk
    before["record"].pop("updated_by_id")
    assert after == before


def test_contacts_cannot_be_changed_or_added_by_a_crafted_post(signed_in, reader):
    guardian = reader.guardians.get()
    crafted = editor_data(signed_in) | {
        "guardians-TOTAL_FORMS": "2",
        "guardians-INITIAL_FORMS": "1",
        "guardians-0-id": str(guardian.pk),
        "guardians-0-name": "Mallory",
        "guardians-0-DELETE": "on",
        "guardians-1-name": "Someone new",
    }

    assert signed_in.post(URL, crafted).status_code == 302

    assert list(reader.guardians.values_list("pk", "name")) == [(guardian.pk, "Grace Hopper")]


def test_a_bounce_flag_cannot_be_posted(signed_in, reader):
    PatronEmail.objects.filter(patron=reader, is_primary=True).update(is_undeliverable=True)
    crafted = editor_data(signed_in) | {
        "emails-0-is_undeliverable": "",
        "emails-1-is_undeliverable": "on",
    }

    assert signed_in.post(URL, crafted).status_code == 302

    assert dict(reader.emails.values_list("is_primary", "is_undeliverable")) == {
        True: True,
        False: False,
    }


@pytest.mark.parametrize("section", ["emails", "addresses", "phones"])
def test_another_patrons_rows_cannot_be_edited_or_removed(signed_in, reader, staff, section):
    other = fill(staff, PatronFactory(home_site=reader.home_site, email=""))
    other_row = getattr(other, section).order_by("pk").first()
    values = {
        "emails": {"address": "hijacked@example.org"},
        "addresses": {"street": "Hijacked street"},
        "phones": {"number": "555 0000 00"},
    }[section]
    crafted = editor_data(signed_in) | {f"{section}-0-id": str(other_row.pk)}
    crafted |= {f"{section}-0-{name}": value for name, value in values.items()}
    removing = editor_data(signed_in) | {
        f"{section}-0-id": str(other_row.pk),
        f"{section}-0-DELETE": "on",
    }
    before = {"other": snapshot(other), "own": snapshot(reader)}

    response = signed_in.post(URL, crafted)

    assert response.status_code == 422
    assert ROW_GONE in response.content.decode()
    assert {"other": snapshot(other), "own": snapshot(reader)} == before
    # A removed row is not read at all: the own row it replaced, not posted, is removed.
    signed_in.post(URL, removing)
    assert snapshot(other) == before["other"]


def test_an_id_in_the_post_does_not_choose_the_patron(signed_in, reader, staff):
    other = fill(staff, PatronFactory(home_site=reader.home_site, email=""))
    before = snapshot(other)
    data = editor_data(signed_in) | {
        "pk": str(other.pk),
        "id": str(other.pk),
        "patron": str(other.pk),
        "language": "de",
    }

    assert signed_in.post(f"{URL}?pk={other.pk}", data).status_code == 302

    assert snapshot(other) == before
    assert Patron.objects.get(pk=reader.pk).language == "de"


# --- the service, called directly ----------------------------------------------------------


def own_update(actor, patron, **overrides):
    arguments = {
        "version": patron.version,
        "fields": {},
        "emails": [EmailEntry(row.address, id=row.pk) for row in patron.emails.all()],
        "addresses": [],
        "phones": [],
    } | overrides
    return services.patron_contact_update(
        actor=actor, patron=patron, action=policy.OWN_ACCOUNT, **arguments
    )


def test_the_service_acts_only_on_the_actors_own_account(reader, staff, librarian):
    for actor in (staff, librarian):
        with pytest.raises(PermissionDenied):
            own_update(actor, reader)


def test_the_service_refuses_staff_only_parts_for_the_own_account(reader):
    for fields in ({"additional_email": "x@example.org"}, {"notify_overdue": False}):
        with pytest.raises(ValueError, match="Not contact fields"):
            own_update(reader, reader, fields=fields)
    with pytest.raises(ValueError, match="library staff only"):
        own_update(reader, reader, guardians=[])
    assert reader.guardians.count() == 1


def test_the_service_refuses_rows_of_another_patron(reader, staff):
    other = fill(staff, PatronFactory(home_site=reader.home_site, email=""))
    phone = other.phones.get()

    with pytest.raises(ValidationError) as refused:
        own_update(reader, reader, phones=[PhoneEntry("555 0100 00", id=phone.pk)])

    assert UNKNOWN_ROW.format(noun="phone") in refused.value.message_dict["phones"]
    assert PatronPhone.objects.get(pk=phone.pk).number == phone.number


def test_the_staff_tab_still_sets_contacts_and_keeps_them_when_not_passed(reader, staff):
    fill(staff, reader, guardians=None, phones=[])

    assert reader.phones.count() == 0
    assert Guardian.objects.filter(patron=reader).count() == 1


def test_the_queries_do_not_grow_with_the_rows(client, staff, ams, django_assert_max_num_queries):
    def counts(patron):
        with CaptureQueriesContext(connection) as shown:
            data = editor_data(client)
        with CaptureQueriesContext(connection) as saved:
            assert client.post(URL, data | {"language": "es"}).status_code == 302
        return len(shown), len(saved)

    few = fill(staff, PatronFactory(home_site=ams, email=""))
    client.force_login(few)
    many = fill(
        staff,
        PatronFactory(home_site=ams, email=""),
        emails=[EmailEntry(f"e{number}@example.org") for number in range(8)],
        phones=[PhoneEntry(f"555 0100 {number:02d}") for number in range(8)],
        addresses=[AddressEntry(f"{number} Main Street") for number in range(8)],
    )

    with django_assert_max_num_queries(8):
        editor_data(client)
    few_counts = counts(few)
    client.force_login(many)
    assert counts(many) == few_counts
    assert few_counts[1] <= 26
