"""The Fines tab in a real browser, by htmx as the desk uses it, under the strict
Content-Security-Policy and with nothing in the console:

1. a Librarian adds a fee, opens a cash session from the tab, takes part of the fee in cash
   (with change), opens the printable receipt, waives the rest with a reason and sees the
   balance clear and the fee closed;
2. a Librarian sets a debt limit on the patron type (Preferences), adds a fee that reaches
   it and sees the system block in the record header, on the Blocks tab and on the
   patron's own /me/ page; putting the fee in dispute lifts it everywhere.
"""

import re
from decimal import Decimal

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from fines.models import CashSession, Fee, FeeTransaction, Receipt
from fines.views.tab import DISPUTED, FEE_ADDED, PAID, WAIVED
from patrons.models import PatronType
from tests.e2e import conftest as e2e
from tests.factories import DEFAULT_PASSWORD, PatronFactory

pytestmark = pytest.mark.e2e


def watch(context, found, *, besides=None):
    """Collects into `found` what the `problems` fixture collects on its page, for the other
    pages of `context` (the receipt's new tab, the patron's own browser): console errors
    (CSP refusals among them) and uncaught exceptions; and server errors (5xx) of every
    page, `besides` included: an htmx request that fails shows only as a console line, a
    full page not at all."""

    def console(msg):
        if msg.type == "error" and msg.page is not besides:
            found.append(msg.text)

    def uncaught(error):
        if error.page is not besides:
            found.append(f"uncaught: {error.error}")

    def response(response):
        if response.status >= 500:
            found.append(f"{response.status} {response.url}")

    context.on("console", console)
    context.on("weberror", uncaught)
    context.on("response", response)
    return found


def shot(request, step):
    """A screenshot path for a page other than `page` (the receipt tab, the patron's own)."""
    e2e.SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return str(e2e.SCREENSHOTS / f"{request.node.name}-{step}.png")


def tab_url(live_server, patron, tab):
    return f"{live_server.url}/staff/patrons/{patron.pk}/{tab}/"


def open_tab(page, name):
    page.get_by_role("navigation", name="Record tabs").get_by_role(
        "link", name=name, exact=True
    ).click()


def add_fee(page, type_name, amount):
    adding = page.get_by_role("group", name="Add a fee or fine")
    adding.get_by_label("Type", exact=False).select_option(label=type_name)
    adding.get_by_label("Amount:", exact=True).fill(amount)
    page.get_by_role("button", name="Add fee").click()


def tick(page, type_name):
    page.get_by_role("checkbox", name=re.compile(rf"^Select {re.escape(type_name)} of ")).check()


def filter_status(page, label):
    page.locator(".fines-filters").get_by_label("Status").select_option(label=label)
    page.locator(".fines-filters").get_by_role("button", name="Filter").click()


def balance(page, which="net"):
    return page.locator(f'[data-fines-summary] [data-balance="{which}"]')


def test_add_pay_in_cash_print_the_receipt_and_waive_the_rest(
    live_server, librarian, ams, page, problems, screenshot, request
):
    watch(page.context, problems, besides=page)
    reader = PatronFactory(home_site=ams, first_name="Edith", last_name="Wharton")
    e2e.sign_in(page, live_server, librarian)
    expect(page).to_have_url(f"{live_server.url}/")

    # The record, then its Fines tab from the tab bar (htmx).
    page.goto(tab_url(live_server, reader, "personal"))
    open_tab(page, "Fines")
    expect(page).to_have_url(tab_url(live_server, reader, "fines"))
    expect(page.get_by_text("No active fees.")).to_be_visible()
    expect(balance(page)).to_have_text("$0.00")

    add_fee(page, "Lost item", "12.50")
    expect(page.get_by_text(FEE_ADDED.format(type="Lost item", amount="$12.50"))).to_be_visible()
    expect(balance(page)).to_have_text("$12.50")
    fee = Fee.objects.get(patron=reader)
    row = page.locator(f'tr[data-fee="{fee.pk}"]')
    expect(row.locator("[data-remaining]")).to_have_text("$12.50")
    screenshot("fee-added")

    # Cash needs a session: the tab links to the cash page, which comes back here.
    page.get_by_role("link", name="cash session").click()
    expect(page.get_by_role("heading", name="Cash session", exact=True)).to_be_visible()
    page.get_by_label("Site").select_option(label=f"{ams.code} · {ams.name}")
    page.get_by_label("Opening float").fill("20.00")
    screenshot("cash-open-form")
    page.get_by_role("button", name="Open the session").click()
    expect(page).to_have_url(tab_url(live_server, reader, "fines"))
    expect(page.get_by_text(f"Cash session opened at {ams.name}")).to_be_visible()
    assert CashSession.objects.filter(operator=librarian, closed_at__isnull=True).count() == 1

    # Pay 5.00 of it in cash, 10.00 handed over.
    actions = page.get_by_role("group", name="With the selected fees")
    tick(page, "Lost item")
    actions.get_by_label("Amount:", exact=True).fill("5.00")
    actions.get_by_label("Payment method").select_option(label="Cash")
    actions.get_by_label("Cash handed over").fill("10.00")
    actions.get_by_role("button", name="Pay").click()
    done = page.locator("[data-receipt]")
    expect(done).to_contain_text("Change due: $5.00")
    receipt = Receipt.objects.get(patron=reader)
    label = f"{ams.code}-{receipt.number:06d}"
    expect(page.get_by_text(PAID.format(amount="$5.00", receipt=label))).to_be_visible()
    expect(balance(page)).to_have_text("$7.50")
    expect(row.locator("[data-remaining]")).to_have_text("$7.50")
    screenshot("paid")

    # The printable receipt (it opens in a new tab).
    with page.context.expect_page() as opened:
        done.get_by_role("link", name="Print the receipt").click()
    printable = opened.value
    printable.wait_for_load_state()
    expect(printable).to_have_url(live_server.url + reverse("fines:receipt", args=[receipt.pk]))
    expect(printable.get_by_role("heading", name=f"Receipt {label}")).to_be_visible()
    expect(printable.locator("[data-total]")).to_have_text("$5.00")
    expect(printable.locator("[data-tendered]")).to_have_text("$10.00")
    expect(printable.locator("[data-change-due]")).to_have_text("$5.00")
    expect(printable.get_by_text("Lost item")).to_be_visible()
    print_css = printable.locator('link[rel="stylesheet"][href*="receipt-print"]')
    expect(print_css).to_have_count(1)
    expect(print_css).to_have_attribute("media", "print")
    assert printable.evaluate(
        "Array.from(document.styleSheets).some(s => (s.href || '').includes('receipt-print')"
        " && s.cssRules.length > 0)"
    ), "the print stylesheet did not load"
    expect(printable.get_by_role("button", name="Print")).to_be_visible()
    printable.emulate_media(media="print")
    expect(printable.get_by_role("button", name="Print")).to_be_hidden()
    printable.screenshot(path=shot(request, "receipt-print"), full_page=True)
    printable.close()

    # Waive the rest with a reason: the balance clears and the fee closes.
    tick(page, "Lost item")
    actions.get_by_label("Reason for waiving").select_option(label="Goodwill")
    actions.get_by_role("button", name="Waive").click()
    expect(page.get_by_text(WAIVED.format(amount="$7.50"))).to_be_visible()
    expect(balance(page)).to_have_text("$0.00")
    expect(page.get_by_text("No active fees.")).to_be_visible()
    filter_status(page, "All")
    expect(row.get_by_text("Closed", exact=True)).to_be_visible()
    expect(row.locator("[data-remaining]")).to_have_text("$0.00")
    expect(row.get_by_role("checkbox")).to_have_count(0)
    page.locator("#record").get_by_text(re.compile(r"^Ledger: 3 lines$")).click()
    ledger = page.locator(f'[data-ledger="{fee.pk}"]')
    expect(ledger.locator("tr[data-line]")).to_have_count(3)
    expect(ledger.locator('tr[data-line="waive"]')).to_contain_text("Goodwill")
    screenshot("waived")

    fee.refresh_from_db()
    assert fee.status == Fee.Status.CLOSED and fee.remaining == Decimal("0.00")
    kinds = list(FeeTransaction.objects.filter(fee=fee).values_list("kind", flat=True))
    assert kinds == ["charge", "payment", "waive"]
    assert receipt.cash_session.operator == librarian
    assert problems == []


def test_a_fee_that_reaches_the_debt_limit_blocks_and_a_dispute_lifts_it(
    live_server, librarian, ams, browser, page, problems, screenshot, request
):
    watch(page.context, problems, besides=page)
    student = PatronType.objects.create(code="STUDENT", name="Student")
    reader = PatronFactory(
        username="mreader",
        home_site=ams,
        first_name="Mary",
        last_name="Shelley",
        patron_type=student,
    )
    header_badges = page.get_by_role("list", name="Status")
    e2e.sign_in(page, live_server, librarian)
    expect(page).to_have_url(f"{live_server.url}/")

    # Preferences → Patron types: a 10.00 debt limit on Student.
    page.get_by_role("link", name="Preferences", exact=True).click()
    page.get_by_role("link", name="Patron types").click()
    expect(page.get_by_role("heading", name="Patron types")).to_be_visible()
    page.get_by_label("Debt limit", exact=True).fill("10.00")
    page.get_by_role("button", name="Save patron types").click()
    expect(page.get_by_text("Patron types saved.")).to_be_visible()
    student.refresh_from_db()
    assert student.debt_limit == Decimal("10.00")

    # A fee of exactly the limit: blocked.
    page.goto(tab_url(live_server, reader, "fines"))
    expect(header_badges.get_by_text("Blocked")).to_have_count(0)
    add_fee(page, "Damaged item", "10.00")
    expect(page.get_by_text(FEE_ADDED.format(type="Damaged item", amount="$10.00"))).to_be_visible()
    expect(balance(page)).to_have_text("$10.00")
    expect(header_badges.get_by_text("Blocked")).to_be_visible()
    screenshot("blocked-header")

    open_tab(page, "Blocks")
    expect(page).to_have_url(tab_url(live_server, reader, "blocks"))
    debt_block = page.locator('[data-blocks="active"] tr[data-block="system:fines.debt_limit"]')
    expect(debt_block).to_contain_text("Debt limit reached")
    expect(debt_block).to_contain_text("Owes $10.00 of a $10.00 limit")
    expect(header_badges.get_by_text("Blocked")).to_be_visible()
    screenshot("blocks-tab")

    # The patron sees it on their own page (their own browser).
    own = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    try:
        own.context.add_init_script(e2e.REPORT_VIOLATIONS)
        own_problems = watch(own.context, [])
        e2e.sign_in(own, live_server, reader, DEFAULT_PASSWORD)
        expect(own).to_have_url(f"{live_server.url}/me/")
        blocks = own.locator("section").filter(has=own.get_by_role("heading", name="Blocks"))
        expect(blocks.get_by_text("Debt limit reached")).to_be_visible()
        expect(blocks).to_contain_text("Owes $10.00 of a $10.00 limit")
        own.screenshot(path=shot(request, "me-blocked"), full_page=True)

        # The librarian puts the fee in dispute: the block goes.
        open_tab(page, "Fines")
        expect(page).to_have_url(tab_url(live_server, reader, "fines"))
        tick(page, "Damaged item")
        page.get_by_role("group", name="With the selected fees").get_by_role(
            "button", name="Dispute"
        ).click()
        expect(page.get_by_text(DISPUTED.format(count=1))).to_be_visible()
        expect(balance(page)).to_have_text("$0.00")
        expect(balance(page, "disputed")).to_have_text("$10.00")
        expect(header_badges.get_by_text("Blocked")).to_have_count(0)
        screenshot("disputed")

        open_tab(page, "Blocks")
        expect(page).to_have_url(tab_url(live_server, reader, "blocks"))
        expect(page.get_by_text("No active blocks.")).to_be_visible()
        expect(page.get_by_text("Debt limit reached")).to_have_count(0)
        expect(header_badges.get_by_text("Blocked")).to_have_count(0)

        own.reload()
        expect(own.get_by_text("No blocks on your account.")).to_be_visible()
        expect(own.get_by_text("Debt limit reached")).to_have_count(0)
        expect(own.get_by_text("In dispute").first).to_be_visible()
        own.screenshot(path=shot(request, "me-lifted"), full_page=True)
        assert own_problems == []
    finally:
        own.context.close()

    assert Fee.objects.get(patron=reader).status == Fee.Status.DISPUTED
    assert problems == []
