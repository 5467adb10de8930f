"""The Fines tab through HTTP: what each role sees and may do, bad input, crafted POSTs."""

import uuid
from decimal import Decimal

import pytest
from django.urls import reverse

from fines import services
from fines.models import Fee, FeeTransaction, FeeType, PaymentMethod, WaiveReason

pytestmark = pytest.mark.django_db


def tab_url(patron):
    return reverse("patrons:tab", kwargs={"pk": patron.pk, "tab": "fines"})


def add_fee(actor, patron, site, amount="12.50", code="LOST"):
    return services.fee_add(
        actor=actor,
        patron=patron,
        key=uuid.uuid4(),
        fee_type=FeeType.objects.get(code=code),
        owner_site=site,
        amount=Decimal(amount),
    )


def test_the_tab_lists_fees_and_balances(client, librarian, patron, ams):
    add_fee(librarian, patron, ams, "12.50")
    client.force_login(librarian)
    response = client.get(tab_url(patron))
    assert response.status_code == 200
    body = response.content.decode()
    assert "$12.50" in body and "Lost item" in body


def test_add_a_fee_through_the_form(client, librarian, patron, ams):
    client.force_login(librarian)
    lost = FeeType.objects.get(code="LOST")
    response = client.post(
        tab_url(patron),
        {
            "add-key": uuid.uuid4(),
            "add-fee_type": lost.pk,
            "add-owner_site": ams.pk,
            "add-amount": "7.25",
        },
    )
    assert response.status_code == 200, response.content.decode()[:3000]
    assert Fee.objects.get(patron=patron).original_amount == Decimal("7.25")


@pytest.mark.parametrize("amount", ["0", "-1", "1.234", "abc", "NaN", "1e9", "99999999999"])
def test_bad_amounts_are_refused_next_to_the_field(client, librarian, patron, ams, amount):
    client.force_login(librarian)
    lost = FeeType.objects.get(code="LOST")
    response = client.post(
        tab_url(patron),
        {
            "add-key": uuid.uuid4(),
            "add-fee_type": lost.pk,
            "add-owner_site": ams.pk,
            "add-amount": amount,
        },
    )
    assert response.status_code == 422
    assert not Fee.objects.exists()


def test_pay_in_cash_then_waive_the_rest(client, librarian, patron, ams):
    fee = add_fee(librarian, patron, ams, "12.50")
    services.cash_session_open(actor=librarian, site=ams, opening_float=Decimal("20"))
    client.force_login(librarian)
    cash = PaymentMethod.objects.get(code="CASH")
    response = client.post(
        tab_url(patron),
        {
            "selected-key": uuid.uuid4(),
            "selected-action": "pay",
            "selected-fees": [fee.pk],
            "selected-amount": "5.00",
            "selected-payment_method": cash.pk,
            "selected-tendered": "10",
        },
    )
    assert response.status_code == 200, response.content.decode()[:3000]
    assert "Change due: $5.00" in response.content.decode()
    reason = WaiveReason.objects.first()
    response = client.post(
        tab_url(patron),
        {
            "selected-key": uuid.uuid4(),
            "selected-action": "waive",
            "selected-fees": [fee.pk],
            "selected-waive_reason": reason.pk,
        },
    )
    assert response.status_code == 200
    fee.refresh_from_db()
    assert fee.remaining == 0 and fee.status == Fee.Status.CLOSED


# --- crafted POSTs: each action without its permission, out of scope, another patron's fee


def post_selected(client, patron, action, fees, **extra):
    data = {"selected-key": uuid.uuid4(), "selected-action": action, "selected-fees": fees}
    data.update({f"selected-{name}": value for name, value in extra.items()})
    return client.post(tab_url(patron), data)


def ledger_state():
    return (
        list(Fee.objects.order_by("pk").values_list("pk", "remaining", "status")),
        FeeTransaction.objects.count(),
    )


def selected_extra(action):
    if action == "pay":
        return {"payment_method": PaymentMethod.objects.get(code="CARD").pk}
    if action == "waive":
        return {"waive_reason": WaiveReason.objects.first().pk}
    return {}


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("aide", {"pay"}),
        ("staff", {"pay"}),
        ("librarian", {"pay", "waive", "dispute", "transfer"}),
    ],
)
@pytest.mark.parametrize("action", ["pay", "waive", "dispute", "transfer"])
def test_each_action_needs_its_permission(
    client, roles, patron, ams, librarian, role, allowed, action
):
    fee = add_fee(librarian, patron, ams, "4.00")
    before = ledger_state()
    client.force_login(roles[role])
    response = post_selected(client, patron, action, [fee.pk], **selected_extra(action))
    if action in allowed:
        assert response.status_code == 200
        assert ledger_state() != before
    else:
        assert response.status_code == 403
        assert ledger_state() == before


@pytest.mark.parametrize("role", ["aide", "staff"])
def test_add_and_credit_need_their_permissions(client, roles, patron, ams, role):
    client.force_login(roles[role])
    credit = FeeType.objects.get(code="CREDIT")
    response = client.post(
        tab_url(patron),
        {
            "credit-key": uuid.uuid4(),
            "credit-fee_type": credit.pk,
            "credit-owner_site": ams.pk,
            "credit-amount": "3.00",
            "credit-comment": "Crafted",
        },
    )
    # The credit form offers no owner site to those who may not credit: refused either way.
    assert response.status_code in (403, 422)
    lost = FeeType.objects.get(code="LOST")
    response = client.post(
        tab_url(patron),
        {
            "add-key": uuid.uuid4(),
            "add-fee_type": lost.pk,
            "add-owner_site": ams.pk,
            "add-amount": "3.00",
        },
    )
    assert response.status_code == (200 if role == "staff" else 422)
    assert Fee.objects.filter(is_credit=True).count() == 0
    assert Fee.objects.count() == (1 if role == "staff" else 0)


def test_an_operator_of_another_school_finds_nothing(
    client, librarian, operator_at_other_site, patron, ams
):
    fee = add_fee(librarian, patron, ams)
    before = ledger_state()
    client.force_login(operator_at_other_site)
    assert client.get(tab_url(patron)).status_code == 404
    assert (
        post_selected(client, patron, "waive", [fee.pk], **selected_extra("waive")).status_code
        == 404
    )
    assert ledger_state() == before


def test_another_patrons_fee_id_is_not_found(client, librarian, patron, ams):
    from tests.factories import PatronFactory

    other = PatronFactory(home_site=ams)
    fee = add_fee(librarian, other, ams)
    before = ledger_state()
    client.force_login(librarian)
    response = post_selected(client, patron, "pay", [fee.pk], **selected_extra("pay"))
    assert response.status_code == 404
    assert ledger_state() == before


def test_a_fee_of_a_site_outside_scope_is_counted_but_not_listed_nor_touched(
    client, district_admin, librarian, patron, ams, jes
):
    hidden = add_fee(district_admin, patron, jes, "6.00")
    add_fee(librarian, patron, ams, "1.00")
    client.force_login(librarian)
    body = client.get(tab_url(patron)).content.decode()
    assert f'data-fee="{hidden.pk}"' not in body
    assert "1 fee owned by sites outside your access is counted" in body
    assert "$7.00" in body  # the patron's whole balance
    before = ledger_state()
    response = post_selected(client, patron, "pay", [hidden.pk], **selected_extra("pay"))
    assert response.status_code == 404
    assert ledger_state() == before


def test_fees_of_a_peer_are_seen_not_changed(client, librarian, library_admin, ams):
    from security.models import Level
    from tests.factories import OperatorFactory

    peer = OperatorFactory(level=Level.LIBRARIAN, home_site=ams)
    fee = add_fee(library_admin, peer, ams)
    client.force_login(librarian)
    assert client.get(tab_url(peer)).status_code == 200
    before = ledger_state()
    assert post_selected(client, peer, "pay", [fee.pk], **selected_extra("pay")).status_code == 403
    assert ledger_state() == before
    client.force_login(library_admin)
    assert post_selected(client, peer, "pay", [fee.pk], **selected_extra("pay")).status_code == 200


def test_a_post_naming_no_form_is_a_bad_request(client, librarian, patron, ams):
    add_fee(librarian, patron, ams)
    before = ledger_state()
    client.force_login(librarian)
    assert client.post(tab_url(patron), {"last_name": "x"}).status_code == 400
    assert ledger_state() == before


def test_a_payment_sent_twice_is_recorded_once(client, librarian, patron, ams):
    fee = add_fee(librarian, patron, ams, "8.00")
    client.force_login(librarian)
    data = {
        "selected-key": uuid.uuid4(),
        "selected-action": "pay",
        "selected-fees": [fee.pk],
        "selected-amount": "3.00",
        "selected-payment_method": PaymentMethod.objects.get(code="CARD").pk,
    }
    first = client.post(tab_url(patron), data)
    second = client.post(tab_url(patron), data)
    assert first.status_code == second.status_code == 200
    assert FeeTransaction.objects.filter(kind="payment").count() == 1
    fee.refresh_from_db()
    assert fee.remaining == Decimal("5.00")
    body = second.content.decode()
    assert "recorded already" in body and "Print the receipt" in body


def test_bad_selected_input_changes_nothing(client, librarian, patron, ams):
    fee = add_fee(librarian, patron, ams, "8.00")
    client.force_login(librarian)
    before = ledger_state()
    for action, extra in [
        ("pay", {"amount": "8.01", **selected_extra("pay")}),
        ("pay", {"amount": "2", "payment_method": PaymentMethod.objects.get(code="CASH").pk}),
        ("pay", {}),
        ("waive", {}),
        ("restore", {}),
        ("teleport", {}),
    ]:
        response = post_selected(client, patron, action, [fee.pk], **extra)
        assert response.status_code == 422, (action, extra)
    assert post_selected(client, patron, "pay", ["x"], **selected_extra("pay")).status_code in (
        404,
        422,
    )
    assert post_selected(client, patron, "pay", [], **selected_extra("pay")).status_code == 422
    assert ledger_state() == before


def test_refund_through_the_tab(client, librarian, patron, ams):
    fee = add_fee(librarian, patron, ams, "8.00")
    card = PaymentMethod.objects.get(code="CARD")
    services.fees_pay(
        actor=librarian, patron=patron, key=uuid.uuid4(), fee_ids=[fee.pk], method=card, site=ams
    )
    payment = FeeTransaction.objects.get(kind="payment")
    client.force_login(librarian)
    page = client.get(tab_url(patron), {"status": "all", "refund": payment.pk}).content.decode()
    assert 'id="refund-form"' in page
    too_much = client.post(
        tab_url(patron),
        {"refund-key": uuid.uuid4(), "refund-payment": payment.pk, "refund-amount": "8.01"},
    )
    assert too_much.status_code == 422
    done = client.post(
        tab_url(patron),
        {"refund-key": uuid.uuid4(), "refund-payment": payment.pk, "refund-amount": "8.00"},
    )
    assert done.status_code == 200
    assert FeeTransaction.objects.filter(kind="refund").count() == 1


def test_the_delete_pages_offer_ticks_every_fee_to_waive(client, librarian, patron, ams):
    fees = [add_fee(librarian, patron, ams, "1.00") for _ in range(3)]
    client.force_login(librarian)
    body = client.get(tab_url(patron), {"status": "all", "waive": "all"}).content.decode()
    for fee in fees:
        assert f'value="{fee.pk}" id="fee-{fee.pk}" checked' in body


def bulk_fees(patron, site, count):
    fees = Fee.objects.bulk_create(
        Fee(
            patron=patron,
            fee_type=FeeType.objects.get(code="LOST"),
            owner_site=site,
            original_amount=Decimal("1.00"),
            remaining=Decimal("1.00"),
            status_at="2026-01-01T00:00Z",
        )
        for _ in range(count)
    )
    FeeTransaction.objects.bulk_create(
        FeeTransaction(
            fee=fee, kind="charge", amount=Decimal("1.00"), balance_after=Decimal("1.00")
        )
        for fee in fees
    )


def test_the_tab_answers_in_the_same_queries_for_1_and_200_fees(
    client, librarian, patron, ams, django_assert_max_num_queries
):
    client.force_login(librarian)
    counts = {}
    for total in (1, 200):
        bulk_fees(patron, ams, total - Fee.objects.filter(patron=patron).count())
        client.get(tab_url(patron))  # the session's first-use work
        with django_assert_max_num_queries(30) as captured:
            response = client.get(tab_url(patron))
        assert response.content.decode().count('data-fee="') == total
        counts[total] = len(captured)
    assert counts[1] == counts[200]


def test_a_payment_of_a_fee_outside_scope_is_not_found_for_refund(
    client, district_admin, librarian, patron, ams, jes
):
    hidden = add_fee(district_admin, patron, jes, "6.00")
    paid = services.fees_pay(
        actor=district_admin,
        patron=patron,
        key=uuid.uuid4(),
        fee_ids=[hidden.pk],
        method=PaymentMethod.objects.get(code="CARD"),
        site=jes,
    )
    payment = FeeTransaction.objects.get(receipt=paid.receipt)
    client.force_login(librarian)
    response = client.post(
        tab_url(patron),
        {"refund-key": uuid.uuid4(), "refund-payment": payment.pk, "refund-amount": "1.00"},
    )
    assert response.status_code == 404
    assert not FeeTransaction.objects.filter(kind="refund").exists()


def test_a_bursar_file_naming_fees_outside_scope_is_refused(
    client, district_admin, librarian, patron, ams, jes
):
    fees = [add_fee(district_admin, patron, site, "2.00") for site in (ams, jes)]
    sent = services.fees_transfer(
        actor=district_admin, patron=patron, key=uuid.uuid4(), fee_ids=[f.pk for f in fees]
    )
    url = reverse("fines:bursar_csv", kwargs={"pk": sent.export.pk})
    client.force_login(librarian)
    assert client.get(url).status_code == 403
    client.force_login(district_admin)
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")


def test_a_working_site_that_is_gone_falls_back_to_the_home_site(client, librarian, patron, ams):
    fee = add_fee(librarian, patron, ams, "3.00")
    client.force_login(librarian)
    session = client.session
    session["working_site_id"] = 999999
    session.save()
    response = post_selected(client, patron, "pay", [fee.pk], **selected_extra("pay"))
    assert response.status_code == 200
    assert "AMS-000001" in response.content.decode()
