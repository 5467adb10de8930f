"""The record framework: tabs as pages and htmx partials, read-only without the edit
permission, refusals, and the stale-edit check."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from patrons import services
from patrons.models import Block, BlockType, Patron, PatronEmail
from patrons.record_selectors import HeaderBadges
from tests.factories import PatronFactory

pytestmark = pytest.mark.django_db


def personal_url(patron):
    return reverse("patrons:tab", kwargs={"pk": patron.pk, "tab": "personal"})


def personal_data(patron, **changes):
    data = {
        "version": patron.version,
        "last_name": patron.last_name,
        "first_name": patron.first_name,
        "barcode": patron.barcode,
        "home_site": patron.home_site_id,
        "status": patron.status,
    }
    return data | changes


def test_record_opens_on_its_first_tab(client, librarian, patron):
    client.force_login(librarian)
    response = client.get(reverse("patrons:record", kwargs={"pk": patron.pk}))
    assert response.status_code == 302
    assert response.url == personal_url(patron)


def test_tab_is_a_full_page_or_an_htmx_partial(client, librarian, patron):
    client.force_login(librarian)
    page = client.get(personal_url(patron))
    partial = client.get(personal_url(patron), headers={"HX-Request": "true"})
    assert page.status_code == partial.status_code == 200
    assert b"<html" in page.content and b"<html" not in partial.content
    assert patron.last_name.encode() in partial.content


def test_saving_the_personal_tab(client, librarian, patron):
    client.force_login(librarian)
    response = client.post(personal_url(patron), personal_data(patron, last_name="Renamed"))
    assert response.status_code == 200
    patron.refresh_from_db()
    assert (patron.last_name, patron.updated_by, patron.version) == ("Renamed", librarian, 2)


def test_invalid_input_is_422_with_the_error_and_nothing_saved(client, librarian, patron):
    client.force_login(librarian)
    response = client.post(personal_url(patron), personal_data(patron, last_name=""))
    assert response.status_code == 422
    assert b"This field is required." in response.content
    assert Patron.objects.get(pk=patron.pk).last_name == patron.last_name


def test_a_stale_save_is_refused_and_says_what_changed(client, librarian, library_admin, patron):
    loaded_version = patron.version
    services.patron_update(
        actor=library_admin,
        patron=patron,
        action="patrons.edit_personal",
        version=loaded_version,
        first_name="Changed-by-admin",
    )
    client.force_login(librarian)
    response = client.post(
        personal_url(patron), personal_data(patron, version=loaded_version, last_name="Mine")
    )
    assert response.status_code == 422
    text = response.content.decode()
    assert "while you were editing" in text and "first name" in text
    patron.refresh_from_db()
    assert (patron.first_name, patron.last_name) == ("Changed-by-admin", patron.last_name)


def test_viewing_without_edit_permission_is_read_only(client, aide, patron):
    client.force_login(aide)
    response = client.get(personal_url(patron))
    assert response.status_code == 200
    assert response.context["form"].fields["last_name"].disabled
    crafted = client.post(personal_url(patron), personal_data(patron, last_name="Aided"))
    assert crafted.status_code == 403
    assert Patron.objects.get(pk=patron.pk).last_name != "Aided"


def test_a_patron_at_or_above_own_level_is_read_only(client, librarian, library_admin):
    client.force_login(librarian)
    assert client.get(personal_url(library_admin)).status_code == 200
    crafted = client.post(personal_url(library_admin), personal_data(library_admin, last_name="X"))
    assert crafted.status_code == 403


def test_out_of_scope_is_404_and_patrons_get_403(client, librarian, patron, jes):
    outsider = PatronFactory(home_site=jes)
    client.force_login(librarian)
    assert client.get(personal_url(outsider)).status_code == 404
    assert client.post(personal_url(outsider), personal_data(outsider)).status_code == 404
    client.force_login(patron)
    assert client.get(personal_url(outsider)).status_code == 403


def test_unknown_tab_is_404(client, librarian, patron):
    client.force_login(librarian)
    url = reverse("patrons:tab", kwargs={"pk": patron.pk, "tab": "nonsense"})
    assert client.get(url).status_code == 404


# --- the header ------------------------------------------------------------------------


def test_the_header_shows_who_the_patron_is(client, librarian, ams):
    someone = PatronFactory(
        first_name="Margaret", last_name="Hamilton", preferred_first_name="Maggie", home_site=ams
    )
    client.force_login(librarian)
    page = client.get(personal_url(someone)).content.decode()
    assert "<h1>Maggie Hamilton</h1>" in page
    assert "<small>Legal name: Margaret" in page
    assert someone.barcode in page and ">AMS<" in page and "(level 5)" in page


def test_status_badges(client, librarian, ams):
    today = timezone.localdate()
    fine = PatronFactory(home_site=ams, expiry_date=today)
    troubled = PatronFactory(home_site=ams, expiry_date=today - timedelta(days=1))
    block_type = BlockType.objects.first()
    Block.objects.create(patron=troubled, block_type=block_type, owner_site=ams)
    Block.objects.create(
        patron=fine, block_type=block_type, owner_site=ams, expires_on=today - timedelta(days=1)
    )
    PatronEmail.objects.create(patron=troubled, address="gone@example.org", is_undeliverable=True)
    client.force_login(librarian)
    assert client.get(personal_url(troubled)).context["badges"] == HeaderBadges(
        expired=True, blocked=True, email_undeliverable=True
    )
    page = client.get(personal_url(fine)).content.decode()
    assert not any(badge in page for badge in ("Expired", "Blocked", "Email undeliverable"))


def test_the_htmx_partial_carries_the_header_tabs_and_hotkeys(client, librarian, patron):
    client.force_login(librarian)
    partial = client.get(personal_url(patron), headers={"HX-Request": "true"}).content.decode()
    assert "record-header" in partial
    assert 'data-hotkey="1"' in partial and 'data-hotkey="3"' in partial
    assert "<title>" in partial


def test_the_delete_link_is_shown_to_those_who_may_delete(client, librarian, staff, patron):
    delete_url = reverse("patrons:delete", kwargs={"pk": patron.pk})
    client.force_login(librarian)
    assert delete_url in client.get(personal_url(patron)).content.decode()
    client.force_login(staff)
    assert delete_url not in client.get(personal_url(patron)).content.decode()


def test_pages_load_the_keyboard_shortcuts(client, librarian, patron):
    client.force_login(librarian)
    page = client.get(personal_url(patron)).content.decode()
    assert "js/libstaff.js" in page and "data-save" in page
