"""Issue journey: a Library Administrator delegates "give Student Aide" to a Librarian on
the group page; the Librarian's Access-tab group list then offers Student Aide and no other
staff group (Patron groups as before); the operator log shows the delegation."""

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from security.models import GroupDelegation, Level, SecurityGroup
from tests.e2e.test_patron_record import sign_in, tab_url
from tests.factories import PatronFactory

pytestmark = pytest.mark.e2e


def watch(page, problems: list) -> None:
    """The `problems` fixture's listeners, for a second browser context."""
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))


def test_a_librarian_gives_the_group_delegated_to_them(
    live_server, browser, library_admin, librarian, ams, page, screenshot, problems
):
    student_aide = SecurityGroup.objects.create(
        name="Student Aide", level=Level.LIBRARY_AIDE, owner_site=ams
    )
    student_aide.permissions.add(Permission.objects.get(codename="view_patron"))
    reader = PatronFactory(first_name="Ida", last_name="Wells", home_site=ams)

    sign_in(page, live_server, library_admin)
    page.goto(f"{live_server.url}/staff/security/groups/{student_aide.pk}/")
    delegations = page.locator("#delegations")
    expect(delegations.get_by_role("heading", name="Delegated to")).to_be_visible()
    delegations.get_by_label("Operator:").fill(librarian.username)
    delegations.get_by_label("Give this group to patrons").check()
    delegations.get_by_role("button", name="Delegate").click()
    row = delegations.get_by_role("row").filter(has_text=librarian.display_name)
    expect(row).to_contain_text("May give this group to patrons")
    expect(row).to_contain_text(library_admin.display_name)
    expect(row.get_by_role("button", name="Take back")).to_be_visible()
    expect(page.get_by_text(f"{librarian.display_name} may now give Student Aide")).to_be_visible()
    assert GroupDelegation.objects.filter(user=librarian, content_object=student_aide).exists()
    screenshot("delegated")

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        other = context.new_page()
        other.set_default_timeout(10_000)
        watch(other, problems)
        sign_in(other, live_server, librarian)
        other.goto(tab_url(live_server, reader, "access"))
        options = other.get_by_label("Security group:").locator("option").all_inner_texts()
        staff_groups = [text for text in options if not text.endswith("(5)")]
        assert staff_groups == ["Student Aide (4)"]
        assert "Patron (5)" in options
        other.get_by_label("Security group:").select_option(label="Student Aide (4)")
        other.get_by_role("button", name="Save").click()
        expect(other.get_by_text("Access saved.")).to_be_visible()
        assert reader.__class__.objects.get(pk=reader.pk).security_group == student_aide
    finally:
        context.close()

    page.get_by_role("link", name="Log", exact=True).click()
    expect(page.get_by_role("cell", name="Group delegated", exact=True).first).to_be_visible()
    screenshot("log")
    assert problems == []
