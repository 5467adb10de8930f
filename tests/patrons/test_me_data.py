"""The "Download my data" file (/me/data/): everything stored about the patron, as JSON,
and never their password hash, PIN, staff-only notes, the staff who changed their record,
or anything of another patron; in a number of queries that does not grow with the rows."""

import json
from datetime import timedelta

import pytest
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from patrons import services
from patrons.me_selectors import BY_LIBRARY, BY_YOU
from patrons.models import Identifier, IdentifierType, Patron
from patrons.services import EmailEntry, PhoneEntry
from security import policy
from tests.factories import PatronFactory
from tests.patrons.test_me import block, note
from tests.patrons.test_me_contact import fill

pytestmark = pytest.mark.django_db

URL = reverse("me_data")
SECTIONS = {
    "exported_at",
    "record",
    "emails",
    "addresses",
    "phones",
    "guardians",
    "identifiers",
    "notes",
    "blocks",
    "fees",
    "history",
}


def identifier(patron, value):
    kind, _ = IdentifierType.objects.get_or_create(code="STUDENT", defaults={"name": "Student ID"})
    return Identifier.objects.create(patron=patron, identifier_type=kind, value=value)


@pytest.fixture
def reader(staff, ams):
    """A patron with a row of everything, a PIN, and a record changed by staff and by them."""
    patron = fill(staff, PatronFactory(username="reader", home_site=ams, email=""))
    patron.pin = make_password("4321")
    patron.save()
    identifier(patron, f"S-{patron.pk}")
    note(patron, ams, "Your reading badge is ready", visible=True)
    note(patron, ams, "STAFF ONLY: check their address", visible=False)
    block(patron, ams, code="OVERDUE", note="Three books overdue")
    block(patron, ams, code="OLD", note="Lifted long ago", expires_on=date_ago(30))
    emails = [EmailEntry(row.address, id=row.pk) for row in patron.emails.all()]
    services.patron_contact_update(
        actor=patron,
        patron=patron,
        action=policy.OWN_ACCOUNT,
        version=patron.version,
        fields={"language": "fr", "keep_history": True},
        emails=emails,
        addresses=[],
        phones=[PhoneEntry("555 0100 42")],
    )
    return Patron.objects.get(pk=patron.pk)


@pytest.fixture
def other(staff, ams):
    patron = fill(staff, PatronFactory(home_site=ams, email="", last_name="Otherperson"))
    note(patron, ams, "Other patron's message", visible=True)
    identifier(patron, "OTHER-ID-1")
    return patron


def date_ago(days):
    return timezone.localdate() - timedelta(days=days)


def download(client) -> tuple:
    response = client.get(URL)
    assert response.status_code == 200
    return response, json.loads(response.content)


def test_the_download_is_a_json_attachment_not_kept_in_caches(client, reader):
    client.force_login(reader)

    response, data = download(client)

    assert response["Content-Type"] == "application/json"
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="') and disposition.endswith('.json"')
    assert "no-store" in response["Cache-Control"]
    assert set(data) == SECTIONS


def test_it_holds_everything_stored_about_the_patron(client, reader, ams):
    client.force_login(reader)

    _, data = download(client)

    record = data["record"]
    assert (record["id"], record["barcode"], record["last_name"]) == (
        reader.pk,
        reader.barcode,
        reader.last_name,
    )
    assert (record["home_site"], record["security_group"]) == (ams.name, "Patron")
    assert (record["language"], record["keep_history"]) == ("fr", True)
    assert {row["address"] for row in data["emails"]} == set(
        reader.emails.values_list("address", flat=True)
    )
    assert data["addresses"] == []
    assert [row["number"] for row in data["phones"]] == ["555 0100 42"]
    assert [row["name"] for row in data["guardians"]] == ["Grace Hopper"]
    assert data["identifiers"][0] | {"created_at": None} == {
        "type": "Student ID",
        "value": f"S-{reader.pk}",
        "note": "",
        "created_at": None,
    }
    assert [row["text"] for row in data["notes"]] == ["Your reading badge is ready"]
    assert {row["note"] for row in data["blocks"]} == {"Three books overdue", "Lifted long ago"}
    assert data["fees"] == []


def test_it_holds_the_history_of_the_record_without_naming_staff(client, reader, staff):
    client.force_login(reader)

    response, data = download(client)

    history = data["history"]
    assert history[0]["event"] == "insert" and history[0]["record"]["last_name"] == reader.last_name
    assert {entry["by"] for entry in history[1:]} == {BY_LIBRARY, BY_YOU}
    own = [entry for entry in history if entry["by"] == BY_YOU][-1]
    assert own["changes"]["language"] == {"from": "en", "to": "fr"}
    assert own["changes"]["keep_history"] == {"from": False, "to": True}
    body = response.content.decode()
    for trace in (staff.display_name, staff.email):
        assert trace not in body
    assert "updated_by" not in body and "created_by" not in body


def test_it_never_holds_secrets_staff_notes_or_another_patron(client, reader, other):
    client.force_login(reader)

    response, data = download(client)

    body = response.content.decode()
    assert reader.password not in body and reader.pin not in body
    for key in ("password", "pin"):
        assert key not in data["record"]
        assert all(
            key not in entry.get("record", entry.get("changes")) for entry in data["history"]
        )
    assert "STAFF ONLY" not in body
    for trace in ("Otherperson", other.barcode, "Other patron's message", "OTHER-ID-1"):
        assert trace not in body
    for address in other.emails.values_list("address", flat=True):
        assert address not in body


def test_an_operator_downloads_their_own_data(client, librarian, ams):
    client.force_login(librarian)

    _, data = download(client)

    assert data["record"]["id"] == librarian.pk
    assert data["record"]["site_access"] == [ams.name]


def test_the_queries_do_not_grow_with_the_rows(
    client, reader, ams, staff, django_assert_max_num_queries
):
    client.force_login(reader)
    with CaptureQueriesContext(connection) as few:
        download(client)
    for number in range(5):
        identifier(reader, f"X-{number}")
        note(reader, ams, f"Message {number}", visible=True)
        block(reader, ams, code=f"B{number}")
        reader.addresses.create(street=f"{number} Main Street", is_preferred=number == 0)
        services.patron_update(
            actor=staff,
            patron=reader,
            action="patrons.edit_personal",
            version=Patron.objects.get(pk=reader.pk).version,
            cohort=f"Cohort {number}",
        )

    with django_assert_max_num_queries(16), CaptureQueriesContext(connection) as many:
        _, data = download(client)

    assert len(data["identifiers"]) == 6 and len(data["addresses"]) == 5
    assert len(many) == len(few)


def test_it_is_a_get_only(client, reader):
    client.force_login(reader)

    assert client.post(URL).status_code == 405
