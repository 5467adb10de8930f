"""Registering a patron: required fields, the next-barcode counter, defaults, what the
operator may choose, the duplicate warning, and the two save buttons."""

import datetime

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from patrons import record_selectors
from patrons.forms.record import BARCODE_TAKEN
from patrons.forms.register import DUPLICATE_OK_LABEL
from patrons.models import Patron, email_required_message
from patrons.views.register import REGISTERED, SAVE_AND_ANOTHER
from security.models import Level
from tests.factories import PatronFactory, SecurityGroupFactory, SiteFactory, group_at

pytestmark = pytest.mark.django_db

URL = "/staff/patrons/new/"
BIRTH = datetime.date(2012, 5, 17)


def data(site, **changes):
    fields = {
        "first_name": "Ada",
        "last_name": "Byron",
        "birth_date": "",
        "barcode": "20000999999001",
        "email": "",
        "home_site": site.pk,
        "security_group": group_at(Level.PATRON).pk,
        "action": "save",
    }
    return fields | changes


def test_the_url_is_stable():
    assert reverse("patrons:register") == URL


def test_the_form_offers_the_next_barcode_and_sensible_defaults(client, librarian, ams):
    client.force_login(librarian)
    form = client.get(URL).context["form"]
    barcode = form.initial["barcode"]
    assert barcode.startswith("20000") and len(barcode) == 14
    assert form.initial["home_site"] == ams.pk
    assert form.initial["security_group"] == group_at(Level.PATRON).pk
    assert client.get(URL).context["form"].initial["barcode"] > barcode


def test_the_counter_skips_barcodes_already_in_use(librarian):
    offered = record_selectors.next_barcode()
    serial = int(offered[len("20000") :])
    for taken in (serial + 1, serial + 5):
        PatronFactory(barcode=f"20000{taken:09d}")
    assert record_selectors.next_barcode() == f"20000{serial + 6:09d}"


def test_register_saves_and_opens_the_record(client, librarian, ams):
    client.force_login(librarian)
    response = client.post(URL, data(ams, birth_date="2012-05-17", email="ada@example.org"))
    patron = Patron.objects.get(barcode="20000999999001")
    assert response.status_code == 302
    assert response.url == reverse("patrons:record", kwargs={"pk": patron.pk})
    assert (patron.last_name, patron.birth_date, patron.home_site) == ("Byron", BIRTH, ams)
    assert (patron.security_group.level, patron.created_by) == (Level.PATRON, librarian)
    assert patron.communication_channel == Patron.Channel.EMAIL
    message = REGISTERED.format(name="Ada Byron", barcode="20000999999001")
    assert [str(m) for m in get_messages(response.wsgi_request)] == [message]


def test_save_and_register_another_returns_to_an_empty_form(client, librarian, ams):
    client.force_login(librarian)
    response = client.post(URL, data(ams, action=SAVE_AND_ANOTHER), follow=True)
    assert response.redirect_chain == [(URL, 302)]
    assert "Ada Byron registered" in response.content.decode()
    assert response.context["form"].initial["barcode"] != "20000999999001"
    assert not response.context["form"].is_bound


@pytest.mark.parametrize("field", ["last_name", "barcode", "home_site"])
def test_required_fields(client, librarian, ams, field):
    client.force_login(librarian)
    response = client.post(URL, data(ams, **{field: ""}))
    assert response.status_code == 422
    assert response.context["form"].errors[field] == ["This field is required."]
    assert not Patron.objects.filter(last_name="Byron").exists()


def test_barcode_is_unique_and_at_most_15_characters(client, librarian, ams, patron):
    client.force_login(librarian)
    taken = client.post(URL, data(ams, barcode=patron.barcode))
    too_long = client.post(URL, data(ams, barcode="1234567890123456"))
    assert taken.status_code == too_long.status_code == 422
    assert taken.context["form"].errors["barcode"] == [BARCODE_TAKEN]
    assert "at most 15 characters" in too_long.context["form"].errors["barcode"][0]


def test_email_is_required_for_librarian_and_above(client, library_admin, ams):
    client.force_login(library_admin)
    response = client.post(URL, data(ams, security_group=group_at(Level.LIBRARIAN).pk))
    assert response.status_code == 422
    assert response.context["form"].errors["email"] == [email_required_message()]


@pytest.mark.usefixtures("librarians_give_staff_groups")
def test_an_operator_gets_their_home_site_in_their_access(client, librarian, ams):
    client.force_login(librarian)
    client.post(URL, data(ams, security_group=group_at(Level.LIBRARY_STAFF).pk))
    patron = Patron.objects.get(barcode="20000999999001")
    assert list(patron.site_access.all()) == [ams]


@pytest.mark.usefixtures("librarians_give_staff_groups")
def test_group_choices_are_only_those_the_operator_may_assign(client, librarian, staff):
    client.force_login(librarian)
    offered = _choices(client.get(URL), "security_group")
    assert offered == ["Library Staff (3)", "Library Aide (4)", "Patron (5)"]
    client.force_login(staff)
    assert _choices(client.get(URL), "security_group") == ["Patron (5)"]


def test_home_site_choices_are_within_the_operators_scope(client, librarian, ams_branch, jes):
    client.force_login(librarian)
    offered = _choices(client.get(URL), "home_site")
    assert offered == [str(ams_branch.parent), str(ams_branch)]


def test_crafted_group_or_site_outside_what_is_offered_is_refused(client, librarian, ams, jes):
    client.force_login(librarian)
    librarian_group = group_at(Level.LIBRARIAN).pk
    group = client.post(URL, data(ams, security_group=librarian_group, email="a@example.org"))
    site = client.post(URL, data(jes))
    assert group.status_code == site.status_code == 403
    assert not Patron.objects.filter(last_name="Byron").exists()


def test_staff_without_access_rights_cannot_give_a_group(client, staff, ams):
    client.force_login(staff)
    response = client.post(URL, data(ams, security_group=group_at(Level.LIBRARY_AIDE).pk))
    assert response.status_code == 403
    assert not Patron.objects.filter(last_name="Byron").exists()


def test_aides_register_and_patrons_cannot(client, aide, patron, ams):
    client.force_login(aide)
    assert client.post(URL, data(ams)).status_code == 302
    client.force_login(patron)
    assert client.get(URL).status_code == 403
    assert client.post(URL, data(ams, barcode="X1")).status_code == 403


def test_a_duplicate_is_shown_with_a_link_and_may_still_be_saved(client, librarian, ams):
    first = PatronFactory(first_name="ADA", last_name="byron", birth_date=BIRTH, home_site=ams)
    client.force_login(librarian)
    warned = client.post(URL, data(ams, birth_date="2012-05-17"))
    assert warned.status_code == 200
    assert warned.context["duplicates"] == [first]
    page = warned.content.decode()
    assert reverse("patrons:record", kwargs={"pk": first.pk}) in page
    assert DUPLICATE_OK_LABEL in page
    assert not Patron.objects.filter(barcode="20000999999001").exists()
    saved = client.post(URL, data(ams, birth_date="2012-05-17", duplicate_ok="on"))
    assert saved.status_code == 302
    assert Patron.objects.filter(last_name__iexact="byron", birth_date=BIRTH).count() == 2


def test_no_warning_without_the_same_birth_date(client, librarian, ams):
    PatronFactory(first_name="Ada", last_name="Byron", birth_date=BIRTH, home_site=ams)
    client.force_login(librarian)
    response = client.post(URL, data(ams, birth_date="2012-05-18"))
    assert response.status_code == 302


def test_duplicates_outside_the_operators_scope_are_not_revealed(client, librarian, ams, jes):
    PatronFactory(first_name="Ada", last_name="Byron", birth_date=BIRTH, home_site=jes)
    client.force_login(librarian)
    response = client.post(URL, data(ams, birth_date="2012-05-17"))
    assert response.status_code == 302


def test_the_form_runs_the_same_queries_with_3_or_30_sites_and_groups(
    client, library_admin, ams, django_assert_max_num_queries
):
    client.force_login(library_admin)
    _add_sites_and_groups(ams, 3)
    with django_assert_max_num_queries(14) as few:
        client.get(URL)
    _add_sites_and_groups(ams, 27)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(URL)
    assert len(_choices(response, "home_site")) >= 30


def _add_sites_and_groups(parent, count):
    for _ in range(count):
        SiteFactory(parent=parent)
        SecurityGroupFactory(level=Level.LIBRARY_STAFF)


def _choices(response, name) -> list[str]:
    return [label for _, label in response.context["form"].fields[name].widget.choices]
