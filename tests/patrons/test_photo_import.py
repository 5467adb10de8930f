"""Photo import (/staff/patrons/photos/): a zip of photos named by barcode or admin system
id, each checked and resized as on the Personal tab, a report of what was skipped and why,
and zip bombs refused without being read."""

import io
import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from patrons.forms.photos import MAX_UPLOAD_BYTES, ZIP_TOO_LARGE, PhotoImportForm
from patrons.forms.record import PHOTO_MAX_BYTES, PHOTO_TOO_LARGE, PHOTO_TOO_MANY_PIXELS
from patrons.models import Patron
from patrons.services import photos
from security import policy
from security.models import Level, OperatorAction
from tests.conftest import SignedInClient
from tests.factories import OperatorFactory, PatronFactory

pytestmark = pytest.mark.django_db

URL = reverse("patrons:photos")


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def image_bytes(fmt="JPEG", size=(1000, 800), color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt)
    return buffer.getvalue()


def zip_of(members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as bundle:
        for name, data in members.items():
            if name.endswith("/"):
                bundle.writestr(zipfile.ZipInfo(name), b"")
            else:
                bundle.writestr(name, data)
    buffer.seek(0)
    buffer.name = "photos.zip"
    return buffer


def post(client, archive, match_by="barcode"):
    return client.post(URL, {"archive": archive, "match_by": match_by})


def photo_files(media):
    folder = media / "patron-photos"
    return sorted(folder.iterdir()) if folder.exists() else []


@pytest.fixture
def pupil(ams):
    return PatronFactory(barcode="P0001", admin_system_id="S-77", home_site=ams)


def test_a_photo_named_by_barcode_is_resized_to_fit_400_and_saved(client, librarian, pupil):
    client.force_login(librarian)
    response = post(client, zip_of({"class 5/P0001.JPG": image_bytes(size=(1000, 800))}))
    assert response.status_code == 200
    assert "1 patron updated" in response.content.decode()
    pupil.refresh_from_db()
    with Image.open(pupil.photo.path) as saved:
        assert saved.size == (400, 320)
    assert pupil.updated_by == librarian
    assert pupil.events.filter(photo=pupil.photo.name).exists()  # in the history


def test_a_photo_named_by_admin_system_id(client, librarian, pupil):
    client.force_login(librarian)
    post(client, zip_of({"S-77.png": image_bytes("PNG", size=(500, 500))}), "admin_system_id")
    pupil.refresh_from_db()
    with Image.open(pupil.photo.path) as saved:
        assert saved.format == "PNG" and saved.size == (400, 400)


def test_the_replaced_photo_leaves_the_disk(
    client, librarian, pupil, media, django_capture_on_commit_callbacks
):
    client.force_login(librarian)
    post(client, zip_of({"P0001.jpg": image_bytes()}))
    [first] = photo_files(media)
    with django_capture_on_commit_callbacks(execute=True):
        post(client, zip_of({"P0001.jpg": image_bytes(color=(0, 0, 200))}))
    [second] = photo_files(media)
    assert first != second and not first.exists()


def test_the_report_says_what_was_skipped_and_why(client, librarian, pupil, ams, jes):
    at_level = OperatorFactory(barcode="L0001", level=Level.LIBRARIAN, home_site=ams)
    elsewhere = PatronFactory(barcode="J0001", home_site=jes)
    client.force_login(librarian)
    response = post(
        client,
        zip_of(
            {
                "P0001.jpg": image_bytes(),
                "NOBODY.jpg": image_bytes(),
                "L0001.jpg": image_bytes(),
                "J0001.jpg": image_bytes(),
                "notes.txt": b"hello",
                "__MACOSX/._P0001.jpg": b"resource fork",
                "folder/": b"",
            }
        ),
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "1 patron updated, 4 files skipped, 1 ignored" in page
    # Out of scope and at the librarian's own level read exactly as "nobody".
    nobody = page.split(photos.MATCHED_NOBODY)[1].split("</details>")[0]
    assert "NOBODY.jpg" in nobody and "L0001.jpg" in nobody and "J0001.jpg" in nobody
    assert "notes.txt" in page.split(photos.NOT_AN_IMAGE)[1].split("</details>")[0]
    assert "__MACOSX/._P0001.jpg" in page.split("Ignored")[1]
    at_level.refresh_from_db()
    elsewhere.refresh_from_db()
    assert not at_level.photo and not elsewhere.photo


def test_too_many_pixels_and_not_an_image_are_reported(librarian, ams):
    PatronFactory(barcode="P0002", home_site=ams)
    PatronFactory(barcode="P0003", home_site=ams)
    buffer = io.BytesIO()
    Image.new("1", (8000, 6000)).save(buffer, format="PNG")
    archive = zip_of({"P0002.jpg": b"not a jpeg", "P0003.png": buffer.getvalue()})
    result = photos.photos_import(actor=librarian, archive=archive, match_by="barcode")
    assert result.skipped_for(photos.NOT_AN_IMAGE) == ["P0002.jpg"]
    assert result.skipped_for(PHOTO_TOO_MANY_PIXELS) == ["P0003.png"]
    assert result.updated == []


def test_two_files_for_one_patron_use_neither(librarian, pupil):
    archive = zip_of({"a/P0001.jpg": image_bytes(), "b/P0001.png": image_bytes("PNG")})
    result = photos.photos_import(actor=librarian, archive=archive, match_by="barcode")
    assert sorted(result.skipped_for(photos.DUPLICATE)) == ["P0001.jpg", "P0001.png"]
    pupil.refresh_from_db()
    assert not pupil.photo


def test_dot_dot_and_absolute_names_are_only_names(librarian, pupil, media):
    archive = zip_of({"../../P0001.jpg": image_bytes()})
    result = photos.photos_import(actor=librarian, archive=archive, match_by="barcode")
    assert result.updated == ["P0001.jpg"]
    assert [path.name for path in media.parent.iterdir() if path.name == "P0001.jpg"] == []


def test_a_member_declaring_more_than_the_limit_is_not_read(librarian, pupil):
    """The declared size is refused before reading: the member is never decompressed."""
    big = b"\0" * (PHOTO_MAX_BYTES + 1)
    archive = zip_of({"P0001.jpg": big}, compression=zipfile.ZIP_DEFLATED)
    result = photos.photos_import(actor=librarian, archive=archive, match_by="barcode")
    assert result.skipped_for(PHOTO_TOO_LARGE) == ["P0001.jpg"]
    pupil.refresh_from_db()
    assert not pupil.photo


def test_a_highly_compressible_member_is_refused_unread(librarian, pupil):
    bomb = b"\0" * (4 * 1024 * 1024)  # under the size limit, but deflates 1000:1
    archive = zip_of({"P0001.jpg": bomb}, compression=zipfile.ZIP_DEFLATED)
    result = photos.photos_import(actor=librarian, archive=archive, match_by="barcode")
    assert result.skipped_for(photos.SUSPICIOUS) == ["P0001.jpg"]


def test_a_member_lying_about_its_size_is_read_only_to_the_limit(librarian, pupil):
    """A header declaring a small size over a big stream: at most the limit + 1 bytes are
    decompressed, and the member is refused (the stream does not match its header)."""
    archive = zip_of({"P0001.jpg": b"\xff" * (PHOTO_MAX_BYTES + 10)}, zipfile.ZIP_DEFLATED)
    data = bytearray(archive.getvalue())
    # Rewrite the declared uncompressed size (local header and central directory) to 1000.
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.find(signature)
        data[at + offset : at + offset + 4] = (1000).to_bytes(4, "little")
    lying = io.BytesIO(bytes(data))
    with pytest.raises(ValidationError) as refused:
        photos.photos_import(actor=librarian, archive=lying, match_by="barcode")
    assert refused.value.messages == [photos.ZIP_CORRUPT.format(name="P0001.jpg")]
    pupil.refresh_from_db()
    assert not pupil.photo


def test_too_many_members_is_refused_whole(client, librarian, pupil):
    members = {f"x{n}.jpg": b"" for n in range(photos.MAX_MEMBERS + 1)}
    members["P0001.jpg"] = image_bytes()
    client.force_login(librarian)
    response = post(client, zip_of(members))
    assert response.status_code == 422
    assert photos.ZIP_TOO_MANY_MEMBERS in response.content.decode()
    pupil.refresh_from_db()
    assert not pupil.photo


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"this is not a zip", photos.ZIP_NOT_A_ZIP),
        (zip_of({}).getvalue(), photos.ZIP_EMPTY),
    ],
)
def test_a_bad_zip_is_refused_with_a_message(client, librarian, pupil, content, message):
    archive = io.BytesIO(content)
    archive.name = "photos.zip"
    client.force_login(librarian)
    response = post(client, archive)
    assert response.status_code == 422
    assert message.split(":")[0] in response.content.decode()
    assert not OperatorAction.objects.filter(action=OperatorAction.Kind.PHOTOS).exists()


def test_a_corrupt_member_refuses_the_whole_zip(client, librarian, pupil, ams):
    other = PatronFactory(barcode="P0009", home_site=ams)
    archive = zip_of(
        {"P0009.jpg": image_bytes(), "P0001.jpg": image_bytes(color=(1, 2, 3))},
        compression=zipfile.ZIP_DEFLATED,
    )
    data = bytearray(archive.getvalue())
    second = data.find(b"PK\x03\x04", 10)  # the second member's local header
    data[second + 200 : second + 260] = b"\x00" * 60  # damage its compressed data
    damaged = io.BytesIO(bytes(data))
    damaged.name = "photos.zip"
    client.force_login(librarian)
    response = post(client, damaged)
    assert response.status_code == 422
    assert "damaged" in response.content.decode()
    for patron in (pupil, other):
        patron.refresh_from_db()
        assert not patron.photo


def test_the_import_is_logged_with_its_counts(librarian, pupil):
    archive = zip_of({"P0001.jpg": image_bytes(), "NOBODY.jpg": image_bytes()})
    photos.photos_import(actor=librarian, archive=archive, match_by="barcode")
    entry = OperatorAction.objects.get(action=OperatorAction.Kind.PHOTOS)
    assert entry.operator == librarian
    assert entry.details == {"updated": 1, "skipped": 1}


def test_the_patron_lookup_is_one_query_for_every_name(
    librarian, ams, django_assert_max_num_queries
):
    names = [f"Q{n:04d}" for n in range(30)]
    for name in names:
        PatronFactory(barcode=name, home_site=ams)
    archive = zip_of(
        {f"{name}.txt": b"" for name in names} | {"NOBODY1.jpg": b"x", "NOBODY2.jpg": b"x"}
    )
    policy.can(librarian, photos.IMPORT)  # what the librarian holds, loaded once
    with django_assert_max_num_queries(2):  # the lookup and the log line
        photos.photos_import(actor=librarian, archive=archive, match_by="barcode")


@pytest.mark.parametrize("role", ["staff", "aide", "patron"])
def test_a_crafted_post_without_import_permission_is_refused(client, request, role, pupil):
    client.force_login(request.getfixturevalue(role))
    response = post(client, zip_of({"P0001.jpg": image_bytes()}))
    assert response.status_code == 403
    pupil.refresh_from_db()
    assert not pupil.photo


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("librarian", 200),
        ("library_admin", 200),
        ("district_admin", 200),
        ("staff", 403),
        ("aide", 403),
        ("patron", 403),
    ],
)
def test_the_page(client, request, role, status):
    client.force_login(request.getfixturevalue(role))
    assert client.get(URL).status_code == status


def test_the_page_sends_anonymous_visitors_to_sign_in(client):
    assert client.get(URL).status_code == 302


def test_a_librarian_at_another_site_matches_nobody_here(operator_at_other_site, pupil):
    archive = zip_of({"P0001.jpg": image_bytes()})
    result = photos.photos_import(actor=operator_at_other_site, archive=archive, match_by="barcode")
    assert result.skipped_for(photos.MATCHED_NOBODY) == ["P0001.jpg"]
    assert not Patron.objects.get(pk=pupil.pk).photo


def test_an_upload_declared_over_200_mb_is_refused_before_it_is_read(client, librarian, pupil):
    client.force_login(librarian)
    archive = zip_of({"P0001.jpg": image_bytes()})
    response = client.post(
        URL, {"archive": archive, "match_by": "barcode"}, CONTENT_LENGTH=str(300 * 1024 * 1024)
    )
    assert response.status_code == 422
    assert ZIP_TOO_LARGE in response.content.decode()
    pupil.refresh_from_db()
    assert not pupil.photo


def test_the_form_refuses_a_zip_over_200_mb():
    upload = SimpleUploadedFile("photos.zip", b"PK")
    upload.size = MAX_UPLOAD_BYTES + 1
    form = PhotoImportForm(data={"match_by": "barcode"}, files={"archive": upload})
    assert form.errors["archive"] == [ZIP_TOO_LARGE]


def test_the_upload_still_needs_its_csrf_token(librarian, pupil):
    browser = SignedInClient(enforce_csrf_checks=True)
    browser.force_login(librarian)
    response = browser.post(URL, {"archive": zip_of({"P0001.jpg": image_bytes()})})
    assert response.status_code == 403
    pupil.refresh_from_db()
    assert not pupil.photo
