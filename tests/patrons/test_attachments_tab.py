"""The Attachments tab: PDFs and images known by their first bytes, a size limit, names on
disk that reveal nothing, downloads only through the policy, deletions logged and the file
gone from the disk."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from patrons import services
from patrons.forms.attachments import EMPTY_FILE, TOO_LARGE, TYPE_REFUSED
from patrons.models import Attachment
from security.models import Level, OperatorAction
from tests.factories import OperatorFactory, PatronFactory
from tests.tab_posts import tab_url

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n% a signed photo consent\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def upload(content=PDF, name="consent form.pdf", content_type="application/pdf"):
    return SimpleUploadedFile(name, content, content_type=content_type)


def attach(client, patron, file=None, description="Photo consent 2026"):
    return client.post(
        tab_url(patron, "attachments"), {"file": file or upload(), "description": description}
    )


def stored_files(media) -> list:
    return [path for path in media.rglob("*") if path.is_file()]


def download_url(attachment) -> str:
    return reverse(
        "patrons:attachment", kwargs={"pk": attachment.patron_id, "attachment_id": attachment.pk}
    )


def test_a_pdf_is_attached_and_downloaded(client, librarian, patron, media):
    client.force_login(librarian)
    response = attach(client, patron)
    assert response.status_code == 200
    attachment = Attachment.objects.get(patron=patron)
    assert (attachment.file_name, attachment.content_type, attachment.size) == (
        "consent form.pdf",
        "application/pdf",
        len(PDF),
    )
    [path] = stored_files(media)
    assert path.parent.name == "patron-attachments"
    assert re.fullmatch("[0-9a-f]{32}", path.name)  # neither the patron nor the file's name
    assert path.read_bytes() == PDF
    download = client.get(download_url(attachment))
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PDF
    assert download["Content-Type"] == "application/pdf"
    assert download["Content-Disposition"].startswith("attachment;")
    assert OperatorAction.objects.filter(
        action=OperatorAction.Kind.PATRON_CHANGED, patron=patron, object_type="patrons.attachment"
    ).exists()


def test_an_image_is_known_by_its_bytes_not_its_name(client, librarian, patron):
    client.force_login(librarian)
    attach(client, patron, upload(PNG, name="scan", content_type="application/octet-stream"))
    assert Attachment.objects.get(patron=patron).content_type == "image/png"


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"<html><script>alert(1)</script>", TYPE_REFUSED), (b"", EMPTY_FILE)],
)
def test_other_files_are_refused_and_nothing_is_stored(
    client, librarian, patron, media, content, message
):
    client.force_login(librarian)
    response = attach(client, patron, upload(content, name="looks.pdf"))
    assert response.status_code == 422
    assert message in response.context["form"].errors["file"]
    assert not Attachment.objects.exists()
    assert stored_files(media) == []


def test_the_size_limit_both_sides(client, librarian, patron, settings):
    settings.LIBSTAFF_ATTACHMENT_MAX_MB = 1
    limit = 1024 * 1024
    client.force_login(librarian)
    at_limit = attach(client, patron, upload(PDF + b"0" * (limit - len(PDF))))
    assert at_limit.status_code == 200
    over = attach(client, patron, upload(PDF + b"0" * (limit - len(PDF) + 1)))
    assert over.status_code == 422
    assert over.context["form"].errors["file"] == [TOO_LARGE.format(size="1.0", limit=1)]
    assert Attachment.objects.count() == 1


def test_a_description_is_required(client, librarian, patron):
    client.force_login(librarian)
    response = attach(client, patron, description="")
    assert response.status_code == 422
    assert not Attachment.objects.exists()


def test_downloads_out_of_scope_are_not_found(client, librarian, operator_at_other_site, patron):
    attachment = services.attachment_add(
        actor=librarian,
        patron=patron,
        file=upload(),
        description="ID",
        content_type="application/pdf",
    )
    client.force_login(operator_at_other_site)
    assert client.get(download_url(attachment)).status_code == 404
    other = PatronFactory(home_site=patron.home_site)
    client.force_login(librarian)
    crafted = reverse("patrons:attachment", kwargs={"pk": other.pk, "attachment_id": attachment.pk})
    assert client.get(crafted).status_code == 404


def test_patrons_and_anonymous_never_download(client, librarian, patron):
    attachment = services.attachment_add(
        actor=librarian,
        patron=patron,
        file=upload(),
        description="ID",
        content_type="application/pdf",
    )
    assert client.get(download_url(attachment)).status_code == 302
    client.force_login(patron)
    assert client.get(download_url(attachment)).status_code == 403


def test_deleting_logs_and_removes_the_file(
    client, librarian, patron, media, django_capture_on_commit_callbacks
):
    client.force_login(librarian)
    attach(client, patron)
    attachment = Attachment.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(tab_url(patron, "attachments"), {"delete": attachment.pk})
    assert response.status_code == 200
    assert not Attachment.objects.exists()
    assert stored_files(media) == []
    entry = OperatorAction.objects.filter(object_type="patrons.attachment").order_by("-pk")[0]
    assert entry.details == {"attachment_deleted": "consent form.pdf"}


def test_a_crafted_delete_of_another_patrons_attachment_is_not_found(client, librarian, ams):
    first, second = PatronFactory(home_site=ams), PatronFactory(home_site=ams)
    attachment = services.attachment_add(
        actor=librarian,
        patron=first,
        file=upload(),
        description="ID",
        content_type="application/pdf",
    )
    client.force_login(librarian)
    assert client.post(tab_url(second, "attachments"), {"delete": attachment.pk}).status_code == 404
    assert client.post(tab_url(second, "attachments"), {"delete": "x"}).status_code == 404
    assert Attachment.objects.filter(pk=attachment.pk).exists()


def test_without_edit_personal_the_tab_is_read_only(client, aide, patron):
    client.force_login(aide)
    page = client.get(tab_url(patron, "attachments"))
    assert page.status_code == 200
    assert b'enctype="multipart/form-data"' not in page.content
    assert attach(client, patron).status_code == 403
    assert not Attachment.objects.exists()


def test_a_librarian_does_not_attach_to_a_librarians_record(client, librarian, ams):
    colleague = OperatorFactory(level=Level.LIBRARIAN, home_site=ams)
    client.force_login(librarian)
    assert attach(client, colleague).status_code == 403


def test_deleting_the_patron_deletes_their_files(
    librarian, library_admin, patron, media, django_capture_on_commit_callbacks
):
    services.attachment_add(
        actor=librarian,
        patron=patron,
        file=upload(),
        description="ID",
        content_type="application/pdf",
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.patron_delete(actor=library_admin, patron=patron)
    assert stored_files(media) == []


def test_the_tab_runs_the_same_queries_with_1_or_20_attachments(
    client, librarian, patron, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(tab_url(patron, "attachments")).status_code == 200
        return len(captured)

    client.force_login(librarian)
    add = dict(actor=librarian, patron=patron, description="ID", content_type="application/pdf")
    services.attachment_add(file=upload(), **add)
    one = queries()
    for _ in range(19):
        services.attachment_add(file=upload(), **add)
    assert queries() == one
