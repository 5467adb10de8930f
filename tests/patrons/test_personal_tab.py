"""The Personal tab: every personal field, the barcode and home-site rules, the photo
(resized, served only through the policy), stale saves, and bounded queries."""

import datetime
import io

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from patrons import services
from patrons.forms import record as record_forms
from patrons.forms.record import BARCODE_TAKEN, PHOTO_FORMAT, PHOTO_TOO_LARGE, STALE_REBASED
from patrons.models import Block, BlockType, Patron, PatronEmail, PatronType
from patrons.models.patron import email_required_message
from security.models import Level
from tests.factories import OperatorFactory, PatronFactory, SiteFactory
from tests.tab_posts import personal_data

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def url(patron, tab="personal"):
    return reverse("patrons:tab", kwargs={"pk": patron.pk, "tab": tab})


def photo_url(patron):
    return reverse("patrons:photo", kwargs={"pk": patron.pk})


def image_file(fmt="PNG", size=(1000, 800), name="photo.png"):
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format=fmt)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type=f"image/{fmt.lower()}")


def test_every_personal_field_is_on_the_tab(client, librarian, patron):
    client.force_login(librarian)
    form = client.get(url(patron)).context["form"]
    expected = {
        "title", "first_name", "middle_name", "last_name", "preferred_first_name",
        "preferred_last_name", "birth_date", "gender", "barcode", "admin_system_id",
        "patron_type", "cohort", "form_class", "home_site", "status", "expiry_date",
        "purge_date", "is_generic", "is_staff_member", "is_protected", "photo",
    }  # fmt: skip
    assert expected <= set(form.fields)
    labels = dict(form.fields["status"].choices)
    assert list(labels.values()) == [
        "Active", "Card lost", "Suspended", "Transferred", "Inactive", "Other"
    ]  # fmt: skip


def test_saving_personal_fields(client, librarian, patron):
    student = PatronType.objects.create(code="student", name="Student")
    patron.site_access.add(patron.home_site)  # a generic account must have site access
    client.force_login(librarian)
    response = client.post(
        url(patron),
        personal_data(
            patron,
            preferred_first_name="Pip",
            birth_date="2011-02-03",
            gender="non-binary",
            patron_type=student.pk,
            cohort="2029",
            form_class="6B",
            status=Patron.Status.CARD_LOST,
            expiry_date="2030-06-30",
            is_generic="on",
            is_protected="on",
        ),
    )
    assert response.status_code == 200
    assert "Personal saved." in response.content.decode()
    patron.refresh_from_db()
    assert patron.birth_date == datetime.date(2011, 2, 3)
    assert (patron.patron_type, patron.cohort, patron.form_class) == (student, "2029", "6B")
    assert (patron.status, patron.is_generic, patron.is_protected) == ("card_lost", True, True)
    assert not patron.is_staff_member


def test_the_header_shows_the_saved_names_after_an_htmx_save(client, librarian, patron):
    client.force_login(librarian)
    response = client.post(
        url(patron),
        personal_data(patron, preferred_first_name="Pip"),
        headers={"HX-Request": "true"},
    )
    page = response.content.decode()
    assert f"<h1>Pip {patron.last_name}</h1>" in page
    assert f"Legal name: {patron.first_name}" in page


def test_barcode_must_be_unique(client, librarian, patron, ams):
    other = PatronFactory(home_site=ams)
    client.force_login(librarian)
    response = client.post(url(patron), personal_data(patron, barcode=other.barcode))
    assert response.status_code == 422
    assert response.context["form"].errors["barcode"] == [BARCODE_TAKEN]


def test_home_site_choices_are_in_scope_and_keep_the_current_one(client, librarian, ams, jes):
    moved_in = PatronFactory(home_site=ams)
    client.force_login(librarian)
    choices = client.get(url(moved_in)).context["form"].fields["home_site"].queryset
    assert list(choices) == [ams]
    crafted = client.post(url(moved_in), personal_data(moved_in, home_site=jes.pk))
    assert crafted.status_code == 422
    assert Patron.objects.get(pk=moved_in.pk).home_site == ams


def test_the_service_refuses_moving_a_patron_out_of_the_actors_scope(librarian, patron, jes):
    with pytest.raises(PermissionDenied):
        services.patron_update(
            actor=librarian,
            patron=patron,
            action="patrons.edit_personal",
            version=patron.version,
            home_site=jes,
        )
    assert Patron.objects.get(pk=patron.pk).home_site_id == patron.home_site_id


def test_a_patron_moves_to_a_branch_within_scope(client, librarian, patron, ams_branch):
    client.force_login(librarian)
    client.post(url(patron), personal_data(patron, home_site=ams_branch.pk))
    assert Patron.objects.get(pk=patron.pk).home_site == ams_branch


def test_the_last_district_administrator_cannot_be_made_inactive(client, district_admin):
    client.force_login(district_admin)
    data = personal_data(district_admin, status=Patron.Status.INACTIVE)
    response = client.post(url(district_admin), data)
    assert response.status_code == 422
    assert services.LAST_DISTRICT_ADMIN in response.content.decode()
    assert Patron.objects.get(pk=district_admin.pk).status == Patron.Status.ACTIVE


def test_a_stale_save_keeps_the_input_and_shows_the_other_operators_values(
    client, librarian, library_admin, patron
):
    loaded = patron.version
    services.patron_update(
        actor=library_admin,
        patron=patron,
        action="patrons.edit_personal",
        version=loaded,
        title="Dr",
    )
    client.force_login(librarian)
    refused = client.post(url(patron), personal_data(patron, version=loaded, cohort="2031"))
    assert refused.status_code == 422
    assert "while you were editing" in refused.content.decode()
    assert STALE_REBASED in refused.content.decode()
    form = refused.context["form"]
    assert (form["title"].value(), form["cohort"].value()) == ("Dr", "2031")
    assert Patron.objects.get(pk=patron.pk).cohort == ""
    again = client.post(url(patron), dict(form.data.items()))
    assert again.status_code == 200
    patron.refresh_from_db()
    assert (patron.title, patron.cohort) == ("Dr", "2031")


# --- photo ---------------------------------------------------------------------------------


def test_a_photo_is_resized_and_served_only_through_the_policy(
    client, librarian, patron, operator_at_other_site
):
    client.force_login(librarian)
    response = client.post(url(patron), personal_data(patron, photo=image_file()))
    assert response.status_code == 200
    patron.refresh_from_db()
    with Image.open(patron.photo.path) as stored:
        assert stored.size == (400, 320) and stored.format == "PNG"
    served = client.get(photo_url(patron))
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    assert "private" in served["Cache-Control"]
    assert photo_url(patron) in client.get(url(patron)).content.decode()
    client.force_login(operator_at_other_site)
    assert client.get(photo_url(patron)).status_code == 404
    client.force_login(patron)
    assert client.get(photo_url(patron)).status_code == 403


def test_jpeg_photos_are_accepted(client, librarian, patron):
    client.force_login(librarian)
    jpeg = image_file("JPEG", (300, 600), "photo.jpg")
    client.post(url(patron), personal_data(patron, photo=jpeg))
    patron.refresh_from_db()
    with Image.open(patron.photo.path) as stored:
        assert stored.size == (200, 400) and stored.format == "JPEG"


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (lambda: image_file("GIF", (10, 10), "photo.gif"), PHOTO_FORMAT),
        (lambda: SimpleUploadedFile("photo.png", b"not an image"), "Upload a valid image"),
        (lambda: SimpleUploadedFile("big.png", b"0" * (5 * 1024 * 1024 + 1)), PHOTO_TOO_LARGE),
    ],
)
def test_bad_photos_are_refused_with_a_clear_message(client, librarian, patron, upload, message):
    client.force_login(librarian)
    response = client.post(url(patron), personal_data(patron, photo=upload()))
    assert response.status_code == 422
    assert message in response.context["form"].errors["photo"][0]
    assert not Patron.objects.get(pk=patron.pk).photo


def test_photo_dimensions_are_bounded(client, librarian, patron, monkeypatch):
    monkeypatch.setattr(record_forms, "PHOTO_MAX_PIXELS", 100 * 100 - 1)
    client.force_login(librarian)
    response = client.post(url(patron), personal_data(patron, photo=image_file(size=(100, 100))))
    assert response.context["form"].errors["photo"] == [record_forms.PHOTO_TOO_MANY_PIXELS]


def test_replacing_or_removing_a_photo_removes_the_old_file(
    client, librarian, patron, django_capture_on_commit_callbacks
):
    client.force_login(librarian)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url(patron), personal_data(patron, photo=image_file()))
        patron.refresh_from_db()
        first = patron.photo
        client.post(url(patron), personal_data(patron, photo=image_file(size=(50, 50))))
        patron.refresh_from_db()
        second = patron.photo
        client.post(url(patron), personal_data(patron, **{"photo-clear": "on"}))
    assert not first.storage.exists(first.name)
    assert not second.storage.exists(second.name)
    assert not Patron.objects.get(pk=patron.pk).photo
    assert client.get(photo_url(patron)).status_code == 404


# --- queries -------------------------------------------------------------------------------


def test_the_tab_runs_the_same_queries_however_many_sub_records(
    client, librarian, patron, ams, django_assert_max_num_queries
):
    client.force_login(librarian)
    _add_sub_records(patron, ams, 2)
    with django_assert_max_num_queries(16) as few:
        response = client.get(url(patron))
    assert "Blocked" in response.content.decode()
    _add_sub_records(patron, ams, 20)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(url(patron))


def _add_sub_records(patron, site, count):
    block_type = BlockType.objects.first()
    for n in range(count):
        Block.objects.create(patron=patron, block_type=block_type, owner_site=site)
        PatronEmail.objects.create(patron=patron, address=f"{n}-{patron.pk}@{count}.example.org")
        SiteFactory(parent=site)
        PatronType.objects.create(code=f"t{count}-{n}", name=f"Type {count}-{n}")
        OperatorFactory(level=Level.LIBRARY_STAFF, home_site=site)


def test_a_missing_email_required_by_the_group_is_reported_not_a_crash(client, district_admin, ams):
    """A Library Administrator imported without an email: the rule lives on the Contact tab,
    so the Personal tab says so at the top and saves nothing."""
    admin = OperatorFactory(level=Level.LIBRARY_ADMINISTRATOR, home_site=ams, email="")
    client.force_login(district_admin)
    response = client.post(url(admin), personal_data(admin, first_name="Changed"))
    assert response.status_code == 422
    assert email_required_message() in response.context["form"].non_field_errors()
    admin.refresh_from_db()
    assert admin.first_name != "Changed"
