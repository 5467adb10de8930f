"""An attachment uploaded on the Attachments tab and downloaded again, in Chromium, under
the strict Content-Security-Policy (htmx posts the file)."""

import pytest
from playwright.sync_api import expect

from patrons.models import Attachment
from tests.e2e import conftest as e2e

pytestmark = pytest.mark.e2e

PDF = b"%PDF-1.4\n% signed photo consent\n%%EOF\n"


def test_upload_then_download(
    live_server, librarian, patron, page, problems, screenshot, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    e2e.sign_in(page, live_server, librarian)
    page.goto(f"{live_server.url}/staff/patrons/{patron.pk}/attachments/")
    expect(page.get_by_text("No files are attached to this record.")).to_be_visible()

    source = tmp_path / "consent.pdf"
    source.write_bytes(PDF)
    page.get_by_label("File:").set_input_files(str(source))
    page.get_by_label("Description:").fill("Photo consent 2026")
    page.get_by_role("button", name="Attach").click()
    expect(page.get_by_text("consent.pdf attached.")).to_be_visible()
    screenshot("attached")

    with page.expect_download() as download:
        page.get_by_role("link", name="consent.pdf").click()
    saved = tmp_path / "downloaded.pdf"
    download.value.save_as(saved)
    assert saved.read_bytes() == PDF
    assert download.value.suggested_filename == "consent.pdf"
    assert Attachment.objects.get(patron=patron).description == "Photo consent 2026"
    assert problems == []
