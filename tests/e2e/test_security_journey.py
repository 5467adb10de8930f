"""Issue journey: a Library Administrator creates "Student Aide" at level 4 with
circulation-like permissions, gives it to a patron, grants a Librarian one permission at
one site, and finds all three actions in the operator log and in its CSV export."""

import csv
import io
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from patrons.models import Patron
from security.models import Grant, SecurityGroup
from tests.e2e.test_patron_record import sign_in, tab_url
from tests.factories import PatronFactory

pytestmark = pytest.mark.e2e


@pytest.mark.usefixtures("librarians_give_staff_groups")
def test_group_assignment_and_grant_are_in_the_log_and_its_export(
    live_server, library_admin, librarian, ams, page, screenshot
):
    reader = PatronFactory(first_name="Ida", last_name="Wells", home_site=ams)
    sign_in(page, live_server, library_admin)

    page.get_by_role("link", name="Security", exact=True).click()
    page.get_by_role("link", name="New group").click()
    page.get_by_label("Name:").fill("Student Aide")
    page.get_by_label("Level:").select_option("4")
    page.get_by_label("Find and view patrons", exact=True).check()
    page.get_by_label("Edit notes", exact=True).check()
    page.get_by_label("Edit blocks", exact=True).check()
    page.get_by_role("button", name="Create group").click()
    expect(page.get_by_text("Security group Student Aide created.")).to_be_visible()
    student_aide = SecurityGroup.objects.get(name="Student Aide")
    assert student_aide.level == 4

    page.goto(tab_url(live_server, reader, "access"))
    page.get_by_label("Security group:").select_option(label="Student Aide (4)")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Access saved.")).to_be_visible()
    assert Patron.objects.get(pk=reader.pk).security_group == student_aide

    page.goto(f"{live_server.url}/staff/security/grants/new/")
    page.get_by_label("Operator").fill(librarian.username)
    notes = Permission.objects.get(content_type__app_label="patrons", codename="edit_notes")
    page.get_by_label("Permission").select_option(str(notes.pk))
    page.get_by_role("combobox", name="Site").select_option(label=str(ams))
    page.get_by_role("button", name="Give the permission").click()
    expect(page).to_have_url(re.compile(r"/staff/security/grants/"))
    assert Grant.objects.filter(operator=librarian, permission=notes, site=ams).exists()

    page.get_by_role("link", name="Log", exact=True).click()
    for action in ("Security group created", "Patron changed", "Permission granted"):
        expect(page.get_by_role("cell", name=action, exact=True).first).to_be_visible()
    screenshot("log")

    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    exported = Path(download.value.path()).read_text(encoding="utf-8-sig")
    text = "\n".join(",".join(row) for row in csv.reader(io.StringIO(exported)))
    for action in ("Security group created", "Patron changed", "Permission granted"):
        assert action in text
    assert "Student Aide" in text and reader.barcode in text
