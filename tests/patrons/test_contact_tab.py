"""The Contact tab as a user meets it: rows added without JavaScript, edited and removed in
one Save, messages next to what is wrong (422), read-only without the permission, refusals
of crafted posts, and a number of queries that does not grow with the rows."""

from html.parser import HTMLParser

import pytest
from django.urls import reverse

from patrons import services
from patrons.forms.contact import ROW_GONE, STREET_REQUIRED
from patrons.models import Guardian, Patron, PatronAddress, PatronEmail, email_required_message
from patrons.services import EmailEntry, PhoneEntry
from patrons.views.contact import SAVED
from security.models import Level
from tests.factories import OperatorFactory, PatronFactory

pytestmark = pytest.mark.django_db

CONTACT_SAVED = SAVED.format(tab="Contact")


def contact_url(patron):
    return reverse("patrons:tab", kwargs={"pk": patron.pk, "tab": "contact"})


class _FormReader(HTMLParser):
    """What a browser would submit from the tab's form (buttons aside)."""

    def __init__(self):
        super().__init__()
        self.data, self._select = {}, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in ("submit", "button"):
            if attrs.get("type") in ("checkbox", "radio"):
                if "checked" in attrs:
                    self.data[name] = attrs.get("value", "on")
            else:
                self.data[name] = attrs.get("value", "")
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select:
            self._option(attrs)

    def _option(self, attrs):
        """The selected option, or else the first."""
        if "selected" in attrs or self._select not in self.data:
            self.data[self._select] = attrs["value"]

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None


def form_data(response) -> dict:
    reader = _FormReader()
    reader.feed(response.content.decode())
    reader.data.pop("csrfmiddlewaretoken", None)
    return reader.data


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def bare(ams):
    """A patron without any email, notices by mail."""
    return PatronFactory(home_site=ams, email="", communication_channel=Patron.Channel.MAIL)


@pytest.fixture
def filled(staff, ams):
    """A patron with two emails (a@ primary), a phone and a guardian."""
    patron = PatronFactory(home_site=ams, email="")
    services.patron_contact_update(
        actor=staff,
        patron=patron,
        version=patron.version,
        fields={},
        emails=[EmailEntry("a@example.org"), EmailEntry("b@example.org")],
        addresses=[],
        phones=[PhoneEntry("555 0100 11")],
        guardians=[services.GuardianEntry("Grace Hopper", relationship="Mother")],
    )
    return patron


def test_tab_is_a_full_page_or_an_htmx_partial(client, staff, filled):
    client.force_login(staff)
    page = client.get(contact_url(filled))
    partial = client.get(contact_url(filled), headers={"HX-Request": "true"})
    assert page.status_code == partial.status_code == 200
    assert b"<html" in page.content and b"<html" not in partial.content
    for shown in (b"a@example.org", b"b@example.org", b"555 0100 11", b"Grace Hopper"):
        assert shown in partial.content


def test_rows_are_added_without_javascript_and_saved_together(client, staff, bare):
    client.force_login(staff)
    data = form_data(client.get(contact_url(bare)))
    with_row = client.post(contact_url(bare), data | {"add_emails": "1"})
    assert with_row.status_code == 200
    assert not PatronEmail.objects.filter(patron=bare).exists()
    data = form_data(with_row) | {"emails-0-address": "ada@example.org"}
    with_phone = client.post(contact_url(bare), data | {"add_phones": "1"})
    data = form_data(with_phone)
    assert data["emails-0-address"] == "ada@example.org"  # what was typed is kept
    data |= {"phones-0-number": "+44 (20) 7946-0018", "phones-0-kind": "home"}

    saved = client.post(contact_url(bare), data)

    assert saved.status_code == 200
    assert messages_of(saved) == [CONTACT_SAVED, services.CHANNEL_TO_EMAIL]
    bare.refresh_from_db()
    assert (bare.email, bare.communication_channel) == ("ada@example.org", "email")
    assert bare.emails.get().is_primary
    assert bare.phones.get().number == "+44 (20) 7946-0018"
    again = client.get(contact_url(bare))
    assert b"ada@example.org" in again.content and b"+44 (20) 7946-0018" in again.content


def test_an_added_row_comes_empty_with_its_defaults_and_no_errors(client, staff, filled):
    client.force_login(staff)
    data = form_data(client.get(contact_url(filled))) | {"add_guardians": "1"}
    response = client.post(contact_url(filled), data, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert b"errorlist" not in response.content
    added = form_data(response)
    assert added["guardians-TOTAL_FORMS"] == "2"
    assert (added["guardians-1-name"], added["guardians-1-receives_notices"]) == ("", "on")
    assert Guardian.objects.filter(patron=filled).count() == 1


def test_a_saved_htmx_post_gets_the_partial_with_its_message(client, staff, filled):
    client.force_login(staff)
    data = form_data(client.get(contact_url(filled))) | {"language": "fr"}
    response = client.post(contact_url(filled), data, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert CONTACT_SAVED.encode() in response.content
    assert Patron.objects.get(pk=filled.pk).language == "fr"


def test_rows_are_edited_and_removed_in_one_save(client, staff, filled):
    client.force_login(staff)
    data = form_data(client.get(contact_url(filled)))
    assert data["emails-is_primary"] == "emails-0"
    data |= {
        "emails-0-DELETE": "on",
        "emails-is_primary": "emails-1",
        "phones-0-number": "555 0100 99",
        "guardians-0-DELETE": "on",
    }
    del data["notify_fines"]  # unticked

    response = client.post(contact_url(filled), data)

    assert response.status_code == 200
    filled.refresh_from_db()
    assert list(filled.emails.values_list("address", "is_primary")) == [("b@example.org", True)]
    assert filled.email == "b@example.org"
    assert filled.phones.get().number == "555 0100 99"
    assert not Guardian.objects.filter(patron=filled).exists()
    assert filled.notify_fines is False


def test_removing_the_last_email_sends_notices_by_mail_and_says_so(client, staff, bare):
    services.patron_contact_update(
        actor=staff,
        patron=bare,
        version=bare.version,
        fields={},
        emails=[EmailEntry("only@example.org")],
        addresses=[],
        phones=[],
        guardians=[],
    )
    client.force_login(staff)
    data = form_data(client.get(contact_url(bare)))
    assert data["communication_channel"] == "email"
    response = client.post(contact_url(bare), data | {"emails-0-DELETE": "on"})
    assert response.status_code == 200
    assert "No email left: notices will go by mail." in messages_of(response)
    assert form_data(response)["communication_channel"] == "mail"
    bare.refresh_from_db()
    assert (bare.email, bare.communication_channel) == ("", "mail")


def test_an_email_from_before_typed_emails_is_shown_and_kept(client, staff, patron):
    client.force_login(staff)
    data = form_data(client.get(contact_url(patron)))
    assert data["emails-0-address"] == patron.email
    assert data["emails-is_primary"] == "emails-0"
    assert client.post(contact_url(patron), data).status_code == 200
    assert PatronEmail.objects.get(patron=patron, is_primary=True).address == patron.email
    assert Patron.objects.get(pk=patron.pk).email == patron.email


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"emails-1-address": "not-an-email"}, "Enter a valid email address."),
        ({"emails-1-address": "A@example.org"}, services.DUPLICATE_EMAIL),
        ({"phones-0-number": "12-34"}, services.INVALID_PHONE),
        ({"phones-0-number": "call me"}, services.INVALID_PHONE),
        ({"guardians-0-phone": "555"}, services.INVALID_PHONE),
        ({"guardians-0-name": ""}, "Enter the contact's name."),
    ],
)
def test_bad_input_is_422_next_to_the_field_and_nothing_saved(
    client, staff, filled, changes, message
):
    client.force_login(staff)
    data = form_data(client.get(contact_url(filled))) | {"language": "de"} | changes
    response = client.post(contact_url(filled), data)
    assert response.status_code == 422
    text = response.content.decode()
    assert message.replace("'", "&#x27;") in text
    field = next(iter(changes))
    assert f'id="id_{field}"' in text  # the form comes back, with what was typed
    filled.refresh_from_db()
    assert filled.language == "en"
    assert sorted(filled.emails.values_list("address", flat=True)) == [
        "a@example.org",
        "b@example.org",
    ]
    assert filled.phones.get().number == "555 0100 11"


def test_a_new_address_needs_its_street(client, staff, bare):
    client.force_login(staff)
    data = form_data(client.get(contact_url(bare))) | {"add_addresses": "1"}
    data = form_data(client.post(contact_url(bare), data))
    response = client.post(contact_url(bare), data | {"addresses-0-city": "Ames"})
    assert response.status_code == 422
    assert STREET_REQUIRED in response.content.decode()
    assert not PatronAddress.objects.filter(patron=bare).exists()
    data |= {"addresses-0-city": "Ames", "addresses-0-street": "1 Main St"}
    assert client.post(contact_url(bare), data).status_code == 200
    assert PatronAddress.objects.get(patron=bare).is_preferred


def test_the_last_email_of_a_librarian_cannot_be_removed(client, library_admin, ams):
    librarian = OperatorFactory(home_site=ams, level=Level.LIBRARIAN, email="lib@example.org")
    client.force_login(library_admin)
    data = form_data(client.get(contact_url(librarian)))
    client.post(contact_url(librarian), data)  # the old email becomes a typed one
    data = form_data(client.get(contact_url(librarian)))
    response = client.post(contact_url(librarian), data | {"emails-0-DELETE": "on"})
    assert response.status_code == 422
    assert email_required_message() in response.content.decode()
    assert Patron.objects.get(pk=librarian.pk).email == "lib@example.org"
    assert PatronEmail.objects.filter(patron=librarian).count() == 1


def test_marking_undeliverable_and_correcting_the_address(client, staff, filled):
    client.force_login(staff)
    data = form_data(client.get(contact_url(filled)))
    client.post(contact_url(filled), data | {"emails-0-is_undeliverable": "on"})
    assert PatronEmail.objects.get(address="a@example.org").is_undeliverable
    data = form_data(client.get(contact_url(filled)))
    assert data["emails-0-is_undeliverable"] == "on"
    client.post(contact_url(filled), data | {"emails-0-address": "a@example.com"})
    assert not PatronEmail.objects.get(address="a@example.com").is_undeliverable


def test_a_stale_save_is_refused_and_nothing_is_saved(client, staff, librarian, filled):
    client.force_login(staff)
    data = form_data(client.get(contact_url(filled)))
    filled.refresh_from_db()
    services.patron_update(
        actor=librarian,
        patron=filled,
        action="patrons.edit_personal",
        version=filled.version,
        first_name="Changed",
    )
    response = client.post(contact_url(filled), data | {"phones-0-number": "555 0100 77"})
    assert response.status_code == 422
    assert "while you were editing" in response.content.decode()
    assert filled.phones.get().number == "555 0100 11"


def test_a_row_of_another_patron_cannot_be_posted(client, staff, filled, bare):
    theirs = filled.emails.get(address="b@example.org")
    client.force_login(staff)
    data = form_data(client.get(contact_url(bare)))
    data |= {
        "emails-TOTAL_FORMS": "1",
        "emails-INITIAL_FORMS": "1",
        "emails-0-id": str(theirs.pk),
        "emails-0-kind": "personal",
        "emails-0-address": "stolen@example.org",
    }
    response = client.post(contact_url(bare), data)
    assert response.status_code == 422
    assert ROW_GONE in response.content.decode()
    assert PatronEmail.objects.get(pk=theirs.pk).address == "b@example.org"


def test_without_the_permission_the_tab_is_read_only(client, aide, filled):
    client.force_login(aide)
    response = client.get(contact_url(filled))
    assert response.status_code == 200
    editor = response.context["contact"]
    assert editor.form.fields["language"].disabled
    assert editor.section["emails"].formset.forms[0].fields["address"].disabled
    assert b"data-save" not in response.content
    data = form_data(response) | {"emails-0-address": "aided@example.org"}
    assert client.post(contact_url(filled), data).status_code == 403
    assert client.post(contact_url(filled), data | {"add_emails": "1"}).status_code == 403
    assert not PatronEmail.objects.filter(address="aided@example.org").exists()


def test_a_librarian_cannot_change_a_library_administrators_contact(
    client, librarian, library_admin
):
    client.force_login(librarian)
    response = client.get(contact_url(library_admin))
    assert response.status_code == 200
    data = form_data(response) | {"language": "nl"}
    assert client.post(contact_url(library_admin), data).status_code == 403
    assert Patron.objects.get(pk=library_admin.pk).language == "en"


def test_out_of_scope_is_404_and_patrons_get_403(client, staff, patron, jes):
    outsider = PatronFactory(home_site=jes)
    client.force_login(staff)
    assert client.get(contact_url(outsider)).status_code == 404
    assert client.post(contact_url(outsider), {"language": "fr"}).status_code == 404
    client.force_login(patron)
    assert client.get(contact_url(patron)).status_code == 403
    assert client.post(contact_url(patron), {"language": "fr"}).status_code == 403
    assert Patron.objects.get(pk=patron.pk).language == "en"


def _with_rows(staff, patron, count):
    services.patron_contact_update(
        actor=staff,
        patron=patron,
        version=patron.version,
        fields={},
        emails=[EmailEntry(f"e{n}@example.org") for n in range(count)],
        addresses=[services.AddressEntry(f"{n} Main St") for n in range(count)],
        phones=[PhoneEntry(f"555 0100 {n:02d}") for n in range(count)],
        guardians=[services.GuardianEntry(f"Guardian {n}") for n in range(count)],
    )
    patron.refresh_from_db()
    return patron


MAX_QUERIES_GET = 16
MAX_QUERIES_SAVE = 40


def test_the_queries_do_not_grow_with_the_rows(client, staff, ams, django_assert_max_num_queries):
    client.force_login(staff)
    counts = {}
    for rows in (1, 10):
        patron = _with_rows(staff, PatronFactory(home_site=ams, email=""), rows)
        client.get(contact_url(patron))  # the session and the policy's facts, as in real use
        with django_assert_max_num_queries(MAX_QUERIES_GET) as shown:
            response = client.get(contact_url(patron))
        data = form_data(response) | {"emails-0-address": "new@example.org", "language": "fr"}
        data |= {f"phones-{n}-kind": "work" for n in range(rows)}
        with django_assert_max_num_queries(MAX_QUERIES_SAVE) as saved:
            assert client.post(contact_url(patron), data).status_code == 200
        assert patron.phones.filter(kind="work").count() == rows
        counts[rows] = (len(shown.captured_queries), len(saved.captured_queries))
    assert counts[10][0] == counts[1][0]
    # At most one more: rows losing "preferred" are written before the row gaining it.
    assert counts[10][1] <= counts[1][1] + 1
