"""Security groups in a real browser: a Library Administrator creates a Student Aide group
under Library Aide, sees what it inherits, saves a grantable mark (htmx), and deletes the
group, moving its member."""

import re

import pytest
from playwright.sync_api import expect

from patrons.models import Patron
from security.models import Level, SecurityGroup
from tests.e2e.test_patron_record import sign_in
from tests.factories import OperatorFactory, group_at

pytestmark = pytest.mark.e2e


def test_create_inherit_mark_grantable_and_delete(
    live_server, library_admin, ams, page, screenshot
):
    sign_in(page, live_server, library_admin)
    page.get_by_role("link", name="Security", exact=True).click()
    expect(page.get_by_role("heading", name="Security groups")).to_be_visible()
    screenshot("list")

    page.get_by_role("link", name="New group").click()
    page.get_by_label("Name:").fill("Student Aide")
    page.get_by_label("Level:").select_option("4")
    page.get_by_label("Inherits from:").select_option(label="Library Aide (4)")
    page.get_by_label("Edit notes", exact=True).check()
    page.get_by_role("button", name="Create group").click()
    expect(page).to_have_url(re.compile(r"/staff/security/groups/\d+/$"))
    expect(page.get_by_text("Security group Student Aide created.")).to_be_visible()
    inherited = page.get_by_label("Find and view patrons", exact=True)
    expect(inherited).to_be_checked()
    expect(inherited).to_be_disabled()
    expect(page.get_by_text("Inherited from Library Aide.").first).to_be_visible()
    screenshot("created")

    page.get_by_label("Edit notes: grantable").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Security group Student Aide saved.")).to_be_visible()
    group = SecurityGroup.objects.get(name="Student Aide")
    assert list(group.grantable_permissions.values_list("codename", flat=True)) == ["edit_notes"]
    screenshot("saved")

    member = OperatorFactory(security_group=group, home_site=ams)
    page.get_by_role("link", name="Delete group").click()
    page.get_by_label("Move its members to:").select_option(label="Library Aide (4)")
    screenshot("delete")
    page.get_by_role("button", name="Delete the group").click()
    expect(page).to_have_url(f"{live_server.url}/staff/security/groups/")
    expect(page.get_by_text("Its member now belongs to Library Aide.")).to_be_visible()
    assert Patron.objects.get(pk=member.pk).security_group == group_at(Level.LIBRARY_AIDE)
