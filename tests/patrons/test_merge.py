"""Merging two patron records: everything moves to the survivor (duplicates merged, the
ledger still proven), the chosen values are applied, the old barcode still finds the
survivor, every refusal holds on both sides of its boundary, and no crafted request gets
a server error."""

from datetime import date
from decimal import Decimal as D

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from fines import ledger_checks
from fines.merging import CREDIT_MOVES
from fines.models import Balance, Fee, FeeTransaction, Receipt
from patrons import services
from patrons.forms.merge import UNKNOWN_CHOICE_FIELD
from patrons.history_selectors import history_page
from patrons.merge_selectors import (
    NOT_FOUND,
    NOT_YOURS_TO_MERGE,
    merge_preview,
)
from patrons.models import (
    Attachment,
    Block,
    BlockType,
    Guardian,
    Identifier,
    IdentifierType,
    Note,
    NoteType,
    Patron,
    PatronAddress,
    PatronEmail,
    PatronPhone,
    PatronStatistic,
    Program,
    ProgramMeasure,
    ProxyLink,
    StatisticalCategory,
)
from patrons.selectors import patron_search
from patrons.views.merge import ACCESS_STAYS, MERGED, POSTED_RECORD_GONE, STALE_MERGE
from security.models import Level, OperatorAction
from tests.factories import OperatorFactory, PatronFactory
from tests.fines.test_ledger import charge, credit, dispute, pay, payment_of, refund

pytestmark = pytest.mark.django_db

URL = reverse("patrons:merge")


# --- helpers -------------------------------------------------------------------------------


def merge(actor, survivor, merged, choices=None):
    survivor.refresh_from_db()
    merged.refresh_from_db()
    return services.patron_merge(
        actor=actor,
        survivor=survivor,
        merged=merged,
        choices=choices or {},
        survivor_version=survivor.version,
        merged_version=merged.version,
    )


def gone(patron) -> bool:
    return not Patron.objects.filter(pk=patron.pk).exists()


def note(patron, site, text="A note"):
    return Note.objects.create(
        patron=patron, note_type=NoteType.objects.first(), text=text, owner_site=site
    )


def statistic(patron, category, site):
    return PatronStatistic.objects.create(patron=patron, category=category, owner_site=site)


def post_data(survivor, merged, **choices):
    survivor.refresh_from_db()
    merged.refresh_from_db()
    data = {
        "survivor": survivor.pk,
        "merged": merged.pk,
        "survivor_version": survivor.version,
        "merged_version": merged.version,
    }
    data.update({f"keep_{name}": value for name, value in choices.items()})
    return data


def ledger_differences():
    return [str(d) for d in ledger_checks.check().differences]


@pytest.fixture
def pair(ams):
    survivor = PatronFactory(home_site=ams, first_name="Jon", last_name="Smith", barcode="S0001")
    merged = PatronFactory(home_site=ams, first_name="Jonathan", last_name="Smith", barcode="M0001")
    return survivor, merged


# --- everything moves ---------------------------------------------------------------------


def test_every_kind_of_row_moves_to_the_survivor(librarian, pair, ams):
    survivor, merged = pair
    other = PatronFactory(home_site=ams)
    note(merged, ams)
    Identifier.objects.create(
        patron=merged, identifier_type=IdentifierType.objects.get(code="student_id"), value="ST9"
    )
    Block.objects.create(patron=merged, block_type=BlockType.objects.first(), owner_site=ams)
    statistic(merged, StatisticalCategory.objects.first(), ams)
    ProgramMeasure.objects.create(
        patron=merged, program=Program.objects.first(), value=D("3"), measured_on=date.today()
    )
    ProxyLink.objects.create(proxy=other, patron=merged)
    Attachment.objects.create(
        patron=merged, file="x", file_name="f.pdf", content_type="application/pdf", size=1
    )
    PatronAddress.objects.create(patron=merged, street="1 Elm St", is_preferred=True)
    PatronPhone.objects.create(patron=merged, number="5551234", is_preferred=True)
    Guardian.objects.create(patron=merged, name="Ma Smith")
    PatronEmail.objects.create(patron=merged, address="jonathan@example.org", is_primary=True)

    result = merge(librarian, survivor, merged)

    assert result.pk == survivor.pk and gone(merged)
    for model in (Note, Block, PatronStatistic, ProgramMeasure, Attachment, Guardian):
        assert model.objects.filter(patron=survivor).count() == 1, model
    assert Identifier.objects.get(value="ST9").patron_id == survivor.pk
    assert ProxyLink.objects.get(proxy=other).patron_id == survivor.pk
    assert PatronAddress.objects.get(patron=survivor).is_preferred is False
    assert PatronPhone.objects.get(patron=survivor).is_preferred is False
    moved_email = PatronEmail.objects.get(address="jonathan@example.org")
    assert moved_email.patron_id == survivor.pk and not moved_email.is_primary


def test_the_survivors_primary_email_and_preferred_rows_stay(librarian, pair):
    survivor, merged = pair
    PatronEmail.objects.create(patron=survivor, address=survivor.email, is_primary=True)
    PatronAddress.objects.create(patron=survivor, street="Main St", is_preferred=True)
    PatronEmail.objects.create(patron=merged, address=merged.email, is_primary=True)
    PatronAddress.objects.create(patron=merged, street="Side St", is_preferred=True)
    merge(librarian, survivor, merged)
    assert PatronEmail.objects.get(patron=survivor, is_primary=True).address == survivor.email
    assert PatronAddress.objects.get(patron=survivor, is_preferred=True).street == "Main St"
    assert PatronEmail.objects.filter(patron=survivor).count() == 2


def test_duplicates_are_merged_without_an_integrity_error(librarian, pair, ams, jes):
    survivor, merged = pair
    category = StatisticalCategory.objects.first()
    statistic(survivor, category, ams)
    statistic(merged, category, ams)  # a duplicate
    statistic(merged, category, jes)  # another owner site: moves
    PatronEmail.objects.create(patron=survivor, address="same@example.org", is_primary=True)
    PatronEmail.objects.create(patron=merged, address="Same@example.org", is_primary=True)
    third = PatronFactory(home_site=ams)
    ProxyLink.objects.create(proxy=third, patron=survivor)
    ProxyLink.objects.create(proxy=third, patron=merged)  # a duplicate once merged
    ProxyLink.objects.create(proxy=merged, patron=survivor)  # between the two: dropped
    ProxyLink.objects.create(proxy=survivor, patron=merged)

    merge(librarian, survivor, merged)

    assert PatronStatistic.objects.filter(patron=survivor).count() == 2
    assert PatronEmail.objects.filter(patron=survivor).count() == 1
    assert list(ProxyLink.objects.values_list("proxy_id", "patron_id")) == [(third.pk, survivor.pk)]


# --- money ---------------------------------------------------------------------------------


def test_fees_credits_and_payments_move_and_the_ledger_still_proves(librarian, pair, ams):
    survivor, merged = pair
    charge(librarian, survivor, "4.00")
    paid = charge(librarian, merged, "10.00")
    pay(librarian, merged, [paid], "6.00")
    refund(librarian, merged, payment_of(paid), "1.00")
    dispute(librarian, merged, [charge(librarian, merged, "3.00")])
    credit(librarian, merged, "5.00")
    lines_before = list(FeeTransaction.objects.order_by("pk").values_list("pk", "fee_id", "amount"))
    assert ledger_differences() == []

    merge(librarian, survivor, merged)

    assert not Fee.objects.filter(patron_id=merged.pk).exists()
    assert Fee.objects.filter(patron=survivor).count() == 4
    balance = Balance.objects.get(patron=survivor)
    assert (balance.active, balance.disputed, balance.credit) == (D("8.00"), D("3.00"), D("5.00"))
    assert balance.net == D("3.00")
    assert not Balance.objects.filter(patron_id=merged.pk).exists()
    assert list(Receipt.objects.values_list("patron_id", flat=True)) == [survivor.pk] * 2
    # The append-only lines were not touched: they name their fee, which moved.
    after = list(FeeTransaction.objects.order_by("pk").values_list("pk", "fee_id", "amount"))
    assert after == lines_before
    assert ledger_differences() == []


def test_the_preview_shows_the_credit_on_a_line_of_its_own(client, librarian, pair):
    survivor, merged = pair
    credit(librarian, merged, "5.00")
    charge(librarian, merged, "2.50")
    client.force_login(librarian)
    page = client.get(URL, {"a": survivor.barcode, "b": merged.barcode}).content.decode()
    assert CREDIT_MOVES.format(amount="$5.00") in page
    assert "Owed $2.50 moves to the survivor." in page
    assert ACCESS_STAYS.replace("'", "&#x27;") in page


# --- barcodes, fields, history, log -------------------------------------------------------


def test_the_merged_away_barcode_finds_the_survivor(librarian, pair):
    survivor, merged = pair
    merge(librarian, survivor, merged)
    identifier = Identifier.objects.get(value="M0001")
    assert identifier.patron_id == survivor.pk
    assert identifier.identifier_type.code == "previous_barcode"
    page = patron_search(operator=librarian, query="M0001")
    assert [row.pk for row in page.rows] == [survivor.pk]


def test_a_missing_previous_barcode_type_is_created(librarian, pair):
    IdentifierType.objects.filter(code="previous_barcode").delete()
    survivor, merged = pair
    merge(librarian, survivor, merged)
    assert Identifier.objects.get(value="M0001").identifier_type.code == "previous_barcode"


def test_chosen_fields_are_applied_and_the_survivors_old_barcode_is_kept(librarian, pair, ams):
    survivor, merged = pair
    merged.birth_date = date(2010, 5, 1)
    merged.save()
    choices = {"first_name": "merged", "barcode": "merged", "birth_date": "merged"}
    choices["last_name"] = "survivor"
    result = merge(librarian, survivor, merged, choices)
    result.refresh_from_db()
    assert (result.first_name, result.barcode, result.birth_date) == (
        "Jonathan",
        "M0001",
        date(2010, 5, 1),
    )
    assert result.username == survivor.username  # access stays
    assert Identifier.objects.get(value="S0001").patron_id == survivor.pk
    assert [p.pk for p in patron_search(operator=librarian, query="S0001").rows] == [survivor.pk]


def test_choosing_the_other_email_makes_its_row_primary(librarian, pair):
    survivor, merged = pair
    PatronEmail.objects.create(patron=survivor, address=survivor.email, is_primary=True)
    PatronEmail.objects.create(patron=merged, address=merged.email, is_primary=True)
    result = merge(librarian, survivor, merged, {"email": "merged"})
    assert result.email == merged.email
    assert PatronEmail.objects.get(patron=survivor, is_primary=True).address == merged.email


def test_the_merge_is_logged_and_the_history_follows(librarian, pair, ams):
    survivor, merged = pair
    moved = note(merged, ams)
    merge(librarian, survivor, merged, {"first_name": "merged"})
    entry = OperatorAction.objects.get(action=OperatorAction.Kind.MERGED)
    assert entry.operator_id == librarian.pk and entry.patron_id == survivor.pk
    assert entry.details["merged"]["name"] == "Jonathan Smith"
    assert entry.details["merged"]["barcode"] == "M0001"
    assert entry.details["moved"]["notes"] == 1
    assert entry.details["fields_taken"] == ["first_name"]
    events = Note.pgh_event_model.objects.filter(pgh_obj_id=moved.pk)
    assert set(events.values_list("patron_id", flat=True)) == {survivor.pk}
    history = history_page(operator=librarian, patron=survivor, tab="notes")
    assert [(row.what, row.action) for row in history.rows][-1] == ("Note", "added")


# --- refusals, both sides ------------------------------------------------------------------


def test_a_record_outside_the_scope_is_refused_either_side(librarian, ams, jes):
    inside = PatronFactory(home_site=ams)
    outside = PatronFactory(home_site=jes)
    for survivor, merged in ((inside, outside), (outside, inside)):
        with pytest.raises(PermissionDenied):
            merge(librarian, survivor, merged)
    assert not gone(inside) and not gone(outside)


def test_a_record_at_the_operators_level_is_refused_below_it_allowed(librarian, ams):
    peer = OperatorFactory(level=Level.LIBRARIAN, home_site=ams)
    below = OperatorFactory(level=Level.LIBRARY_STAFF, home_site=ams)
    reader = PatronFactory(home_site=ams)
    with pytest.raises(PermissionDenied):
        merge(librarian, reader, peer)
    with pytest.raises(PermissionDenied):
        merge(librarian, peer, reader)
    merge(librarian, reader, below)
    assert gone(below)


def test_ones_own_record_is_not_merged_away(district_admin, district):
    other = OperatorFactory(level=Level.DISTRICT_ADMINISTRATOR, home_site=district)
    with pytest.raises(PermissionDenied):
        merge(district_admin, other, district_admin)
    # The other way round, one's own record survives.
    merge(district_admin, district_admin, other)
    assert gone(other)


def test_the_last_district_administrator_is_not_merged_away(district_admin, district):
    second = OperatorFactory(level=Level.DISTRICT_ADMINISTRATOR, home_site=district)
    merge(second, second, district_admin)  # another one remains: allowed
    assert gone(district_admin)
    duplicate = OperatorFactory(level=Level.DISTRICT_ADMINISTRATOR, home_site=district)
    duplicate.status = Patron.Status.INACTIVE
    duplicate.save()
    second.username = None  # cannot sign in: no other District Administrator can
    second.save()
    third = OperatorFactory(level=Level.DISTRICT_ADMINISTRATOR, home_site=district)
    third.username = None
    third.save()
    with pytest.raises(ValidationError) as refused:
        merge(third, third, second)
    assert "last active District Administrator" in str(refused.value)


def test_a_protected_record_survives_but_is_not_merged_away(librarian, ams):
    protected = PatronFactory(home_site=ams, is_protected=True)
    plain = PatronFactory(home_site=ams)
    with pytest.raises(ValidationError):
        merge(librarian, plain, protected)
    merge(librarian, protected, plain)
    assert gone(plain) and not gone(protected)


def test_a_record_is_not_merged_with_itself(librarian, patron):
    with pytest.raises(ValidationError):
        merge(librarian, patron, patron)
    assert not gone(patron)


def test_a_stale_preview_is_refused_and_nothing_moves(librarian, pair, ams):
    survivor, merged = pair
    note(merged, ams)
    survivor.refresh_from_db()
    merged.refresh_from_db()
    versions = {"survivor_version": survivor.version, "merged_version": merged.version}
    services.patron_update(
        actor=librarian,
        patron=merged,
        action="patrons.edit_personal",
        version=merged.version,
        cohort="2031",
    )
    with pytest.raises(services.StaleEdit):
        services.patron_merge(
            actor=librarian, survivor=survivor, merged=merged, choices={}, **versions
        )
    assert not gone(merged) and Note.objects.filter(patron=merged).count() == 1


def test_a_home_site_out_of_scope_cannot_be_chosen(ams, jes):
    both_sites = OperatorFactory(level=Level.LIBRARIAN, home_site=ams, site_access=[ams, jes])
    amsonly = OperatorFactory(level=Level.LIBRARIAN, home_site=ams)
    survivor = PatronFactory(home_site=ams)
    merged = PatronFactory(home_site=jes)
    with pytest.raises(PermissionDenied):
        merge(amsonly, survivor, merged, {"home_site": "merged"})
    result = merge(both_sites, survivor, merged, {"home_site": "merged"})
    assert result.home_site == jes


def test_unknown_fields_and_values_are_refused(librarian, pair):
    survivor, merged = pair
    with pytest.raises(ValidationError):
        merge(librarian, survivor, merged, {"security_group": "merged"})
    with pytest.raises(ValidationError):
        merge(librarian, survivor, merged, {"first_name": "both"})
    assert not gone(merged)


# --- the page ------------------------------------------------------------------------------


def test_the_page_merges_and_lands_on_the_survivor(client, librarian, pair):
    survivor, merged = pair
    client.force_login(librarian)
    page = client.get(URL, {"a": survivor.barcode, "b": str(merged.pk)})
    assert page.status_code == 200
    assert "Jonathan" in page.content.decode()
    response = client.post(URL, post_data(survivor, merged, first_name="merged"))
    assert response.status_code == 302
    assert response.url == reverse("patrons:record", kwargs={"pk": survivor.pk})
    message = MERGED.format(merged="Jonathan Smith", barcode="M0001")
    assert [str(m) for m in get_messages(response.wsgi_request)] == [message]
    survivor.refresh_from_db()
    assert survivor.first_name == "Jonathan" and gone(merged)


@pytest.mark.parametrize("role", ["aide", "staff", "patron"])
def test_roles_without_merge_are_refused(client, request, role, pair):
    survivor, merged = pair
    client.force_login(request.getfixturevalue(role))
    assert client.get(URL).status_code == 403
    assert client.post(URL, post_data(survivor, merged)).status_code == 403
    assert not gone(merged)


def test_the_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302 and "/accounts/login/" in response.url


def test_another_sites_librarian_finds_nothing(client, operator_at_other_site, pair):
    survivor, merged = pair
    client.force_login(operator_at_other_site)
    assert client.get(URL).status_code == 200
    page = client.get(URL, {"a": survivor.barcode, "b": merged.barcode})
    assert page.status_code == 404
    assert NOT_FOUND.format(query=survivor.barcode) in page.content.decode()
    response = client.post(URL, post_data(survivor, merged))
    assert response.status_code == 404
    assert POSTED_RECORD_GONE in response.content.decode()
    assert not gone(merged)


def test_missing_and_hidden_look_the_same(client, librarian, jes):
    hidden = PatronFactory(home_site=jes, barcode="H0001")
    client.force_login(librarian)
    for query in ("H0001", str(hidden.pk), "NOPE", "99999999"):
        page = client.get(URL, {"a": query, "b": "x"})
        assert page.status_code == 404
        assert NOT_FOUND.format(query=query) in page.content.decode()


def test_the_page_says_why_a_merge_is_refused(client, librarian, ams):
    peer = OperatorFactory(level=Level.LIBRARIAN, home_site=ams)
    reader = PatronFactory(home_site=ams)
    client.force_login(librarian)
    page = client.get(URL, {"a": reader.pk, "b": peer.pk}).content.decode()
    assert NOT_YOURS_TO_MERGE.format(name=peer.display_name).replace("'", "&#x27;") in page
    assert "Merge the records" not in page
    response = client.post(URL, post_data(reader, peer))
    assert response.status_code == 403 and not gone(peer)


def test_a_stale_post_is_refused_with_a_message(client, librarian, pair):
    survivor, merged = pair
    data = post_data(survivor, merged)
    merged.refresh_from_db()
    services.patron_set_status(actor=librarian, patron=merged, status=Patron.Status.SUSPENDED)
    client.force_login(librarian)
    response = client.post(URL, data)
    assert response.status_code == 409
    assert STALE_MERGE.split("{")[0].strip() in response.content.decode()
    assert not gone(merged)


@pytest.mark.parametrize(
    "garbage",
    [
        {},
        {"survivor": "x", "merged": "1", "survivor_version": "1", "merged_version": "1"},
        {"survivor": "-5", "merged": "0", "survivor_version": "a", "merged_version": ""},
        {"survivor": "9" * 30, "merged": "1", "survivor_version": "1", "merged_version": "1"},
    ],
)
def test_garbage_posts_get_a_message_not_a_server_error(client, librarian, garbage):
    client.force_login(librarian)
    response = client.post(URL, garbage)
    assert response.status_code == 422
    assert POSTED_RECORD_GONE in response.content.decode()


def test_crafted_choices_are_form_errors(client, librarian, pair):
    survivor, merged = pair
    client.force_login(librarian)
    unknown = client.post(URL, post_data(survivor, merged, security_group="merged"))
    assert unknown.status_code == 422
    assert UNKNOWN_CHOICE_FIELD.format(names="security_group") in unknown.content.decode()
    wrong_value = client.post(URL, post_data(survivor, merged, first_name="both"))
    assert wrong_value.status_code == 422
    self_merge = client.post(URL, post_data(survivor, survivor))
    assert self_merge.status_code == 422
    assert not gone(merged)


def test_garbage_query_strings_get_no_server_error(client, librarian):
    client.force_login(librarian)
    for params in ({"a": ""}, {"a": "x" * 500, "b": "y"}, {"a": "1", "b": "1"}, {"a": "\x00"}):
        assert client.get(URL, params).status_code in (404, 422)


def test_the_preview_is_not_n_plus_one(client, librarian, pair, ams, django_assert_max_num_queries):
    survivor, merged = pair
    for n in range(30):
        note(merged, ams, text=f"Note {n}")
    for _ in range(10):
        charge(librarian, merged, "1.00")
    client.force_login(librarian)
    client.get(URL, {"a": survivor.pk, "b": merged.pk})  # warm the session and the policy
    with django_assert_max_num_queries(25):
        page = client.get(URL, {"a": survivor.pk, "b": merged.pk})
    assert "Notes: 30" in page.content.decode()
    assert "Fees and credits: 10" in page.content.decode()


def test_the_preview_lists_differences_and_drops(librarian, pair, ams):
    survivor, merged = pair
    category = StatisticalCategory.objects.first()
    statistic(survivor, category, ams)
    statistic(merged, category, ams)
    preview = merge_preview(operator=librarian, survivor=survivor, merged=merged)
    names = [difference.name for difference in preview.differences]
    assert "first_name" in names and "barcode" in names and "last_name" not in names
    stats = next(kind for kind in preview.moving if kind.label == "Statistical categories")
    assert (stats.count, stats.dropped) == (1, 1)
    assert preview.allowed
