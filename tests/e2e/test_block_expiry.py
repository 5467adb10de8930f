"""A block with yesterday's expiry no longer shows as active, in the header or on the
Blocks tab; one without expiry does. Then an operator adds a block and lifts it through
the page (htmx), under the strict Content-Security-Policy, with nothing in the console."""

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from patrons.models import Block, BlockType
from patrons.views.blocks import BLOCK_ADDED, BLOCK_LIFTED
from tests.e2e import conftest as e2e
from tests.factories import PatronFactory

pytestmark = pytest.mark.e2e


def test_expired_blocks_stop_showing_and_a_block_is_added_and_lifted(
    live_server, librarian, ams, page, problems, screenshot
):
    kind = BlockType.objects.create(code="CONDUCT", name="Conduct")
    lapsed = PatronFactory(home_site=ams, first_name="Lapsed", last_name="Block")
    standing = PatronFactory(home_site=ams, first_name="Standing", last_name="Block")
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    Block.objects.create(
        patron=lapsed, block_type=kind, owner_site=ams, note="Ran out", expires_on=yesterday
    )
    Block.objects.create(patron=standing, block_type=kind, owner_site=ams, note="Kept the laptop")
    header_badges = page.get_by_role("list", name="Status")

    e2e.sign_in(page, live_server, librarian)
    page.goto(f"{live_server.url}/staff/patrons/{lapsed.pk}/blocks/")
    expect(page.get_by_role("heading", name="Lapsed Block")).to_be_visible()
    expect(header_badges.get_by_text("Blocked")).to_have_count(0)
    expect(page.get_by_text("No active blocks.")).to_be_visible()
    expect(page.locator('[data-blocks="past"]').get_by_text("Ran out")).to_be_visible()
    screenshot("expired-block")

    page.goto(f"{live_server.url}/staff/patrons/{standing.pk}/blocks/")
    expect(header_badges.get_by_text("Blocked")).to_be_visible()
    expect(page.locator('[data-blocks="active"]').get_by_text("Kept the laptop")).to_be_visible()

    # Add one on the lapsed patron's record, switching tabs by htmx.
    page.goto(f"{live_server.url}/staff/patrons/{lapsed.pk}/personal/")
    page.get_by_role("navigation", name="Record tabs").get_by_role("link", name="Blocks").click()
    expect(page).to_have_url(f"{live_server.url}/staff/patrons/{lapsed.pk}/blocks/")
    adding = page.get_by_role("group", name="Add a block")
    adding.get_by_label("Type").select_option(label="Conduct")
    adding.get_by_label("Reason").fill("Shouted at staff")
    page.get_by_role("button", name="Add block").click()
    expect(page.get_by_text(BLOCK_ADDED.format(type="Conduct"))).to_be_visible()
    expect(header_badges.get_by_text("Blocked")).to_be_visible()
    active = page.locator('[data-blocks="active"]')
    expect(active.get_by_text("Shouted at staff")).to_be_visible()
    screenshot("added")

    active.get_by_label("Reason for lifting").fill("Apologised")
    active.get_by_role("button", name="Lift block").click()
    expect(page.get_by_text(BLOCK_LIFTED.format(type="Conduct"))).to_be_visible()
    expect(header_badges.get_by_text("Blocked")).to_have_count(0)
    expect(page.locator('[data-blocks="past"]').get_by_text("Apologised")).to_be_visible()
    screenshot("lifted")

    lifted = Block.objects.get(patron=lapsed, note="Shouted at staff")
    assert lifted.lifted_by == librarian and lifted.lift_reason == "Apologised"
    assert problems == []
