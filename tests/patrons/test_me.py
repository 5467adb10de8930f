"""The patron's own page (/me/) as a patron meets it: their card and standing, blocks, the
messages meant for them and no others, fees; who reaches it; passwords; and that no URL or
parameter shows another patron. The contact editor and the data download have their own
files (test_me_contact.py, test_me_data.py)."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from patrons.models import Block, BlockType, Note, NoteType, Patron
from patrons.views.me import EXPIRED, INACTIVE, _standing_messages
from security import mail as mail_sender
from security.passwords import NEEDS_LETTERS_AND_NUMBERS
from tests.factories import DEFAULT_PASSWORD, PatronFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Q7x9-2468-Zk31"  # no likeness to any generated name or email
ME_URLS = ["me", "me_contact", "me_data"]


def page_of(client, **params) -> str:
    response = client.get(reverse("me"), params)
    assert response.status_code == 200
    return response.content.decode()


def block(patron, site, *, code="OVERDUE", note="", expires_on=None):
    block_type, _ = BlockType.objects.get_or_create(code=code, defaults={"name": code.title()})
    return Block.objects.create(
        patron=patron, block_type=block_type, owner_site=site, note=note, expires_on=expires_on
    )


def note(patron, site, text, *, visible):
    note_type, _ = NoteType.objects.get_or_create(code="GENERAL", defaults={"name": "General"})
    return Note.objects.create(
        patron=patron, note_type=note_type, owner_site=site, text=text, is_visible_to_patron=visible
    )


# --- the page ----------------------------------------------------------------------------


def test_the_page_shows_the_card_standing_and_every_section(client, ams):
    patron = PatronFactory(
        home_site=ams,
        first_name="Margaret",
        preferred_first_name="Peggy",
        last_name="Hamilton",
        expiry_date=timezone.localdate() + timedelta(days=300),
    )
    client.force_login(patron)

    page = page_of(client)

    assert "Hello, Peggy" in page and "Peggy Hamilton" in page
    assert patron.barcode in page and ams.name in page
    assert date_format(patron.expiry_date) in page
    assert "Active" in page and 'role="alert"' not in page
    for title in ("Blocks", "Fees", "Messages from your library", "Contact details"):
        assert f">{title}</h2>" in page
    assert "You have no fees." in page and "No blocks on your account." in page
    for name in ("me_contact", "me_data", "password_change"):
        assert f'href="{reverse(name)}"' in page


def test_an_expired_card_says_so_and_whom_to_contact(client, patron, ams):
    patron.expiry_date = timezone.localdate() - timedelta(days=1)
    patron.save()
    client.force_login(patron)

    page = page_of(client)

    assert EXPIRED.format(date=date_format(patron.expiry_date), site=ams.name) in page


def test_a_card_expiring_today_is_not_expired(client, patron):
    patron.expiry_date = timezone.localdate()
    patron.save()
    client.force_login(patron)

    assert "expired" not in page_of(client)


def test_an_inactive_account_says_so_and_whom_to_contact(patron, ams):
    """Such an account cannot sign in (the login refuses it and OWN_ACCOUNT denies it), so
    the page's section is checked on its own."""
    patron.status = Patron.Status.SUSPENDED
    patron.save()
    patron.refresh_from_db()

    assert _standing_messages(patron) == [INACTIVE.format(status="suspended", site=ams.name)]


def test_an_account_that_becomes_inactive_is_signed_out_of_its_page(client, patron):
    client.force_login(patron)
    Patron.objects.filter(pk=patron.pk).update(status=Patron.Status.CARD_LOST)

    for name in ME_URLS:
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_active_blocks_are_shown_with_their_reason_expired_ones_are_not(client, patron, ams):
    today = timezone.localdate()
    block(patron, ams, code="OVERDUE", note="Three books are overdue")
    block(patron, ams, code="LOSTCARD", expires_on=today)
    block(patron, ams, code="OLD", note="An old block", expires_on=today - timedelta(days=1))
    client.force_login(patron)

    page = page_of(client)

    assert "Overdue" in page and "Three books are overdue" in page
    assert "Lostcard" in page and f"Until {date_format(today)}" in page
    assert "An old block" not in page and "Old<" not in page
    assert f"Contact {ams.name} about them" in page


def test_only_notes_meant_for_the_patron_are_shown(client, patron, ams):
    note(patron, ams, "Your reading challenge badge is ready", visible=True)
    note(patron, ams, "Staff only: argued at the desk", visible=False)
    note(PatronFactory(home_site=ams), ams, "Another patron's message", visible=True)
    client.force_login(patron)

    page = page_of(client)

    assert "Your reading challenge badge is ready" in page
    assert "Staff only" not in page and "Another patron" not in page


def test_operators_reach_their_own_page_too(client, librarian):
    client.force_login(librarian)

    page = page_of(client)

    assert librarian.barcode in page and librarian.security_group.name in page
    assert f'href="{reverse("me_contact")}"' in page


def test_every_page_links_the_signed_in_name_to_the_own_page(client, librarian):
    client.force_login(librarian)

    page = client.get(reverse("home")).content.decode()

    assert f'<a class="who-name" href="{reverse("me")}"' in page


def test_the_page_costs_the_same_queries_whatever_the_rows(
    client, patron, ams, django_assert_max_num_queries
):
    client.force_login(patron)
    with CaptureQueriesContext(connection) as few:
        page_of(client)
    for number in range(5):
        block(patron, ams, code=f"B{number}", note=f"Reason {number}")
        note(patron, ams, f"Message {number}", visible=True)
        patron.phones.create(number=f"555 0100 {number:02d}", is_preferred=number == 0)

    with django_assert_max_num_queries(11):  # 10, and the fees (issue item 6)
        page = page_of(client)

    assert "Reason 4" in page and "Message 4" in page and "555 0100 04" in page
    with CaptureQueriesContext(connection) as many:
        page_of(client)
    assert len(many) == len(few)


# --- who reaches what ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ME_URLS)
def test_signed_out_visitors_are_sent_to_sign_in(client, default_groups, name):
    response = client.get(reverse(name))

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={reverse(name)}"


def test_no_parameter_shows_another_patron(client, patron, ams):
    other = PatronFactory(home_site=ams)
    note(other, ams, "Other's visible message", visible=True)
    client.force_login(patron)
    crafted = {"pk": other.pk, "id": other.pk, "patron": other.pk, "user": other.pk}

    page = page_of(client, **crafted)
    data = client.get(reverse("me_data"), crafted).json()
    contact = client.get(reverse("me_contact"), crafted).content.decode()

    assert patron.barcode in page and other.barcode not in page
    assert "Other's visible message" not in page
    assert data["record"]["id"] == patron.pk and data["record"]["barcode"] == patron.barcode
    assert patron.last_name in contact and other.last_name not in contact


@pytest.mark.parametrize("tab", ["personal", "contact", "access"])
def test_a_patron_cannot_use_the_staff_tabs_on_their_own_record(client, patron, tab):
    client.force_login(patron)
    url = reverse("patrons:tab", kwargs={"pk": patron.pk, "tab": tab})

    assert client.get(url).status_code == 403
    assert client.post(url, {"last_name": "Changed", "version": patron.version}).status_code == 403
    assert client.get(reverse("patrons:record", kwargs={"pk": patron.pk})).status_code == 403
    patron.refresh_from_db()
    assert patron.last_name != "Changed"


# --- passwords -----------------------------------------------------------------------------


def test_a_patron_changes_their_password_under_the_library_policy(client, patron):
    client.force_login(patron)
    url = reverse("password_change")
    weak = {
        "old_password": DEFAULT_PASSWORD,
        "new_password1": "readingx",
        "new_password2": "readingx",
    }

    refused = client.post(url, weak)

    assert refused.status_code == 422
    assert NEEDS_LETTERS_AND_NUMBERS in refused.content.decode()
    good = {"old_password": DEFAULT_PASSWORD} | dict.fromkeys(
        ["new_password1", "new_password2"], NEW_PASSWORD
    )
    assert client.post(url, good)["Location"] == reverse("password_change_done")
    patron.refresh_from_db()
    assert patron.check_password(NEW_PASSWORD)
    assert client.get(reverse("home"))["Location"] == reverse("me")


def test_a_forced_password_change_comes_before_the_own_pages(client, patron):
    patron.must_change_password = True
    patron.save()
    client.force_login(patron)

    for name in ME_URLS:
        assert client.get(reverse(name))["Location"] == reverse("password_change")
    client.post(
        reverse("password_change"),
        {"old_password": DEFAULT_PASSWORD}
        | dict.fromkeys(["new_password1", "new_password2"], NEW_PASSWORD),
    )

    patron.refresh_from_db()
    assert not patron.must_change_password
    for name in ME_URLS:
        assert client.get(reverse(name)).status_code == 200


def test_the_reset_page_tells_patrons_without_email_to_contact_their_library(client, patron):
    page = client.get(reverse("password_reset")).content.decode()

    assert "No email address on file? Contact your library" in page


def test_a_reset_request_does_not_reveal_whether_an_account_exists(client, patron, ams):
    PatronFactory(home_site=ams, username=None, email="nologin@example.org")
    answers = [
        client.post(reverse("password_reset"), {"email": email}, follow=True)
        for email in (patron.email, "nobody@example.org", "nologin@example.org")
    ]

    assert {answer.redirect_chain[-1][0] for answer in answers} == {reverse("password_reset_done")}
    assert {answer.status_code for answer in answers} == {200}
    for answer in answers:
        assert "If an account with that email exists" in answer.content.decode()
    assert mail_sender.flush(timeout=10)  # emails go out after the response
    assert [message.to for message in mail.outbox] == [[patron.email]]
