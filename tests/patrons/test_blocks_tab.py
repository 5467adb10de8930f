"""The Blocks tab as an operator meets it: active blocks first, then the lifted and expired
ones; adding and lifting (with a reason, once); owner-site scope on both sides, in the tab,
the header, the list's column and filter, and for crafted posts (htmx too); the level
boundary; read-only without patrons.edit_blocks; system blocks that nobody lifts by hand;
messages next to the field with 422; the operator log; a bounded number of queries."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from patrons import services, system_blocks
from patrons.models import Block, BlockType
from patrons.selectors import PatronFilters, patron_search
from patrons.system_blocks import SystemBlock
from patrons.views.blocks import BLOCK_ADDED, BLOCK_LIFTED
from security import working_site
from security.models import Level, OperatorAction
from tests.factories import OperatorFactory, PatronFactory
from tests.tab_posts import tab_url

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
BLOCKED_BADGE = '<span class="badge badge-danger">Blocked</span>'


@pytest.fixture
def kind(db):
    return BlockType.objects.get_or_create(code="CONDUCT", defaults={"name": "Conduct"})[0]


@pytest.fixture
def member(ams):
    return PatronFactory(home_site=ams)


def make_block(patron, kind, site, **fields):
    return Block.objects.create(
        patron=patron, block_type=kind, owner_site=site, note=fields.pop("note", "Noisy"), **fields
    )


def blocks_url(patron):
    return tab_url(patron, "blocks")


def add_data(kind, site, **changes):
    data = {
        "add-block_type": kind.pk,
        "add-note": "Damaged a book",
        "add-expires_on": "",
        "add-owner_site": site.pk,
    }
    return data | changes


def lift_data(block, reason="Paid for the book"):
    block_id = block if isinstance(block, str) else block.pk
    return {"lift-block": block_id, "lift-lift_reason": reason}


def today():
    return timezone.localdate()


@pytest.fixture
def provider():
    """A system block provider registered for one test, the way an app registers one."""
    registered = []

    def register(label="Debt limit reached", reason="Owes 30.00", *, blocked=None, fails=False):
        def blocks(patron):
            if fails:
                raise RuntimeError("the ledger is unreachable")
            if blocked is not None and patron.pk not in blocked:
                return []
            return [SystemBlock(label, reason)]

        def condition():
            return Q(pk__in=sorted(blocked))

        with_condition = condition if blocked is not None else None
        system_blocks.register(system_blocks.Provider("tests.debt", blocks, with_condition))
        registered.append("tests.debt")

    yield register
    for key in registered:
        system_blocks.unregister(key)


# --- what the tab shows ---------------------------------------------------------------


def test_active_blocks_come_first_then_the_lifted_and_expired_ones(
    client, librarian, member, kind, ams
):
    active = make_block(member, kind, ams, note="Still active")
    expired = make_block(
        member, kind, ams, note="Ran out", expires_on=today() - datetime.timedelta(1)
    )
    lifted = make_block(
        member,
        kind,
        ams,
        note="Was lifted",
        lifted_at=timezone.now(),
        lifted_by=librarian,
        lift_reason="Returned the book",
    )
    client.force_login(librarian)
    page = client.get(blocks_url(member)).content.decode()
    active_table, past_table = page.split('data-blocks="past"')
    assert f'data-block="{active.pk}"' in active_table
    assert f'data-block="{expired.pk}"' in past_table
    assert f'data-block="{lifted.pk}"' in past_table
    assert "Returned the book" in past_table and librarian.display_name in past_table
    assert f'name="lift-block" value="{active.pk}"' in page
    assert f'name="lift-block" value="{expired.pk}"' not in page


def test_expiry_today_still_counts_and_yesterday_no_longer(client, librarian, kind, ams):
    due_today = PatronFactory(home_site=ams)
    due_yesterday = PatronFactory(home_site=ams)
    make_block(due_today, kind, ams, expires_on=today())
    make_block(due_yesterday, kind, ams, expires_on=today() - datetime.timedelta(days=1))
    assert Block.objects.active().filter(patron=due_today).exists()
    assert not Block.objects.active().filter(patron=due_yesterday).exists()
    client.force_login(librarian)
    assert BLOCKED_BADGE in client.get(blocks_url(due_today)).content.decode()
    page = client.get(blocks_url(due_yesterday)).content.decode()
    assert BLOCKED_BADGE not in page
    assert "No active blocks." in page
    blocked = patron_search(operator=librarian, filters=PatronFilters(has_active_block=True))
    assert [row.pk for row in blocked.rows] == [due_today.pk]


def test_override_blocks_is_shown_as_its_own_permission(client, librarian, staff, member):
    client.force_login(librarian)
    assert "You may override blocks at the desk" in client.get(blocks_url(member)).content.decode()
    client.force_login(staff)  # edits blocks, does not override them
    page = client.get(blocks_url(member)).content.decode()
    assert "You may not override blocks at the desk." in page
    assert "Add a block" in page


# --- owner-site scope, both sides -----------------------------------------------------


def test_a_block_owned_by_another_site_is_invisible_to_an_operator_without_its_scope(
    client, librarian, district_admin, member, kind, jes
):
    make_block(member, kind, jes, note="Owned by Jefferson")
    client.force_login(librarian)  # AMS only
    page = client.get(blocks_url(member)).content.decode()
    assert "Owned by Jefferson" not in page and BLOCKED_BADGE not in page
    listed = patron_search(operator=librarian, query=member.barcode)
    assert [row.active_blocks for row in listed.rows] == [0]
    blocked = patron_search(operator=librarian, filters=PatronFilters(has_active_block=True))
    assert member.pk not in [row.pk for row in blocked.rows]
    not_blocked = patron_search(operator=librarian, filters=PatronFilters(has_active_block=False))
    assert member.pk in [row.pk for row in not_blocked.rows]
    list_page = client.get(reverse("patrons:list"), {"blocked": "yes"}).content.decode()
    assert member.barcode not in list_page

    client.force_login(district_admin)  # the other side: their scope covers JES
    page = client.get(blocks_url(member)).content.decode()
    assert "Owned by Jefferson" in page and BLOCKED_BADGE in page
    assert [
        row.active_blocks
        for row in patron_search(operator=district_admin, query=member.barcode).rows
    ] == [1]
    blocked = patron_search(operator=district_admin, filters=PatronFilters(has_active_block=True))
    assert member.pk in [row.pk for row in blocked.rows]


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "htmx"])
def test_lifting_a_block_out_of_scope_or_of_another_patron_is_not_found(
    client, librarian, member, kind, ams, jes, headers
):
    jes_block = make_block(member, kind, jes)
    other = PatronFactory(home_site=ams)
    others_block = make_block(other, kind, ams)
    client.force_login(librarian)
    for block in (jes_block, others_block):
        response = client.post(blocks_url(member), lift_data(block), **headers)
        assert response.status_code == 404
    for garbage in ("", "abc", "999999999"):
        assert client.post(blocks_url(member), lift_data(garbage), **headers).status_code == 404
    assert Block.objects.filter(lifted_at__isnull=False).count() == 0


def test_owner_sites_on_offer_are_where_the_operator_edits_blocks(
    client, librarian, member, kind, ams, jes
):
    client.force_login(librarian)
    page = client.get(blocks_url(member)).content.decode()
    assert f'<option value="{ams.pk}" selected>' in page
    assert f'value="{jes.pk}"' not in page
    response = client.post(blocks_url(member), add_data(kind, jes))
    assert response.status_code == 422
    assert "Select a valid choice" in response.content.decode()
    assert not Block.objects.exists()


def test_the_owner_site_defaults_to_the_working_site(client, district_admin, member, ams, jes):
    client.force_login(district_admin)
    session = client.session
    session[working_site.SESSION_ID] = jes.pk
    session.save()
    page = client.get(blocks_url(member)).content.decode()
    assert f'<option value="{jes.pk}" selected>' in page


# --- who may change blocks --------------------------------------------------------------


def test_adding_and_lifting_stop_at_the_operators_level(client, staff, librarian, kind, ams):
    colleague = OperatorFactory(level=Level.LIBRARY_STAFF, home_site=ams)
    below = OperatorFactory(level=Level.LIBRARY_AIDE, home_site=ams)
    block = make_block(colleague, kind, ams)
    client.force_login(staff)
    page = client.get(blocks_url(colleague)).content.decode()
    assert "You can view this tab but not change it." in page
    assert client.post(blocks_url(colleague), add_data(kind, ams)).status_code == 403
    assert client.post(blocks_url(colleague), lift_data(block)).status_code == 403
    assert client.post(blocks_url(below), add_data(kind, ams)).status_code == 200
    client.force_login(librarian)  # the other side: a Librarian is above Library Staff
    assert client.post(blocks_url(colleague), lift_data(block)).status_code == 200
    assert Block.objects.filter(patron=below).count() == 1
    block.refresh_from_db()
    assert block.lifted_by == librarian


def test_without_edit_blocks_the_tab_is_read_only(client, aide, member, kind, ams):
    block = make_block(member, kind, ams, note="Visible to the aide")
    client.force_login(aide)
    response = client.get(blocks_url(member))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Visible to the aide" in page
    assert "You can view this tab but not change it." in page
    assert 'name="lift-block"' not in page and 'name="add-note"' not in page
    assert client.post(blocks_url(member), add_data(kind, ams)).status_code == 403
    assert client.post(blocks_url(member), lift_data(block), **HTMX).status_code == 403
    block.refresh_from_db()
    assert not block.is_lifted and Block.objects.count() == 1


# --- adding -------------------------------------------------------------------------------


def test_adding_a_block_saves_it_logs_it_and_shows_it(client, librarian, member, kind, ams):
    client.force_login(librarian)
    expires = today() + datetime.timedelta(days=7)
    response = client.post(
        blocks_url(member), add_data(kind, ams, **{"add-expires_on": expires.isoformat()}), **HTMX
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert BLOCK_ADDED.format(type=kind.name) in page and BLOCKED_BADGE in page
    block = Block.objects.get(patron=member)
    assert (block.note, block.expires_on, block.owner_site, block.created_by) == (
        "Damaged a book",
        expires,
        ams,
        librarian,
    )
    entry = OperatorAction.objects.get(object_type="patrons.block", object_id=str(block.pk))
    assert entry.action == OperatorAction.Kind.PATRON_CHANGED
    assert (entry.operator, entry.patron, entry.site) == (librarian, member, ams)
    assert entry.details["block"] == "added"
    assert entry.details["changes"]["note"] == [None, "Damaged a book"]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"add-note": "  "}, "note", services.BLOCK_REASON_REQUIRED),
        ({"add-expires_on": "yesterday"}, "expires_on", "Enter a valid date."),
        ({"add-block_type": ""}, "block_type", "This field is required."),
    ],
    ids=["no reason", "bad date", "no type"],
)
def test_bad_input_is_a_422_next_to_the_field_and_nothing_is_saved(
    client, librarian, member, kind, ams, changes, field, message
):
    client.force_login(librarian)
    response = client.post(blocks_url(member), add_data(kind, ams, **changes), **HTMX)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not Block.objects.exists()
    assert not OperatorAction.objects.filter(object_type="patrons.block").exists()


def test_an_expiry_in_the_past_is_refused_by_the_form_and_the_service(
    client, librarian, member, kind, ams
):
    yesterday = today() - datetime.timedelta(days=1)
    client.force_login(librarian)
    response = client.post(
        blocks_url(member), add_data(kind, ams, **{"add-expires_on": yesterday.isoformat()})
    )
    assert response.status_code == 422
    assert services.BLOCK_EXPIRY_IN_PAST in response.content.decode()
    with pytest.raises(ValidationError, match=services.BLOCK_EXPIRY_IN_PAST):
        services.block_add(
            actor=librarian,
            patron=member,
            block_type=kind,
            note="x",
            owner_site=ams,
            expires_on=yesterday,
        )
    assert not Block.objects.exists()


# --- lifting ------------------------------------------------------------------------------


def test_lifting_needs_a_reason(client, librarian, member, kind, ams):
    block = make_block(member, kind, ams)
    client.force_login(librarian)
    response = client.post(blocks_url(member), lift_data(block, reason="  "), **HTMX)
    assert response.status_code == 422
    assert services.BLOCK_LIFT_REASON_REQUIRED in response.content.decode()
    block.refresh_from_db()
    assert not block.is_lifted


def test_lifting_keeps_the_block_with_who_when_and_why_and_logs_it(
    client, librarian, member, kind, ams
):
    block = make_block(member, kind, ams)
    client.force_login(librarian)
    response = client.post(blocks_url(member), lift_data(block), **HTMX)
    assert response.status_code == 200
    page = response.content.decode()
    assert BLOCK_LIFTED.format(type=kind.name) in page and BLOCKED_BADGE not in page
    block.refresh_from_db()
    assert block.is_lifted and block.lifted_by == librarian
    assert block.lift_reason == "Paid for the book"
    assert "Paid for the book" in page.split('data-blocks="past"')[1]
    entry = OperatorAction.objects.get(object_type="patrons.block", object_id=str(block.pk))
    assert entry.details["block"] == "lifted"
    assert entry.details["changes"]["lift_reason"] == ["", "Paid for the book"]


def test_lifting_twice_is_refused_and_changes_nothing(client, librarian, staff, member, kind, ams):
    block = make_block(member, kind, ams)
    client.force_login(staff)
    assert client.post(blocks_url(member), lift_data(block)).status_code == 200
    block.refresh_from_db()
    first = (block.lifted_at, block.lifted_by, block.lift_reason)
    client.force_login(librarian)
    response = client.post(blocks_url(member), lift_data(block, reason="Again"), **HTMX)
    assert response.status_code == 422
    assert services.BLOCK_ALREADY_LIFTED in response.content.decode()
    block.refresh_from_db()
    assert (block.lifted_at, block.lifted_by, block.lift_reason) == first
    assert OperatorAction.objects.filter(object_type="patrons.block").count() == 1


# --- system blocks ------------------------------------------------------------------------


def test_system_blocks_show_everywhere_and_cannot_be_lifted(client, librarian, member, provider):
    provider(blocked={member.pk})
    client.force_login(librarian)
    page = client.get(blocks_url(member)).content.decode()
    assert "Debt limit reached" in page and "System block" in page and BLOCKED_BADGE in page
    assert 'name="lift-block" value="system:' not in page
    response = client.post(blocks_url(member), lift_data("system:tests.debt"), **HTMX)
    assert response.status_code == 422
    assert services.SYSTEM_BLOCK_NOT_LIFTABLE in response.content.decode()
    assert "Debt limit reached" in response.content.decode()
    [row] = patron_search(operator=librarian, query=member.barcode).rows
    assert row.active_blocks == 1
    blocked = patron_search(operator=librarian, filters=PatronFilters(has_active_block=True))
    assert [row.pk for row in blocked.rows] == [member.pk]

    client.force_login(member)
    assert "Debt limit reached" in client.get(reverse("me")).content.decode()


def test_a_failing_system_block_provider_counts_as_a_block(client, librarian, member, provider):
    provider(fails=True)
    client.force_login(librarian)
    response = client.get(blocks_url(member))
    assert response.status_code == 200
    page = response.content.decode()
    assert system_blocks.CHECK_FAILED in page and BLOCKED_BADGE in page


def test_the_patron_sees_their_own_blocks_whatever_the_owner_site(client, member, kind, jes, ams):
    make_block(member, kind, jes, note="Owned by Jefferson")
    make_block(member, kind, ams, note="Ran out", expires_on=today() - datetime.timedelta(1))
    client.force_login(member)
    page = client.get(reverse("me")).content.decode()
    assert "Owned by Jefferson" in page and "Ran out" not in page


# --- queries --------------------------------------------------------------------------------


def _tab_queries(client, patron) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(blocks_url(patron)).status_code == 200
    return len(queries)


def test_the_tab_costs_the_same_queries_with_1_and_20_blocks(client, librarian, kind, ams):
    one, twenty = PatronFactory(home_site=ams), PatronFactory(home_site=ams)
    make_block(one, kind, ams)
    for n in range(20):
        extra = {}
        if n % 3 == 1:
            extra = {"lifted_at": timezone.now(), "lifted_by": librarian, "lift_reason": "Done"}
        elif n % 3 == 2:
            extra = {"expires_on": today() - datetime.timedelta(days=n)}
        make_block(twenty, kind, ams, created_by=librarian, **extra)
    client.force_login(librarian)
    _tab_queries(client, one)  # warm the session and the policy's caches
    assert _tab_queries(client, twenty) == _tab_queries(client, one)
