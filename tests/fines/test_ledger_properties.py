"""The ledger under any sequence of desk actions (hypothesis state machine).

A model of the fees (what remains of each, its status, the payments and what was refunded
of them, the transfers) predicts, for every step, whether the services must accept it and
what it does. Every step is checked against that prediction: an accepted step changes the
fees exactly as the model says, a refused one raises ValidationError and changes nothing.
After every step the stored summaries equal the ledger: each fee's remaining is the sum of
its lines and never negative, the patron's Balance is `balance_sums` of their fees, and
`manage.py check_ledger` passes.
"""

import io
from dataclasses import dataclass
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from fines import services
from fines.models import Balance, Fee, FeeTransaction
from fines.money import CENT, MAX_AMOUNT
from security.models import Preferences
from tests.fines.test_ledger import fee_type, key, ledger_state, method, open_cash, reason

pytestmark = pytest.mark.django_db

WAIVE_LIMIT = 3
ODD_AMOUNTS = [
    D("0"),
    D("0.00"),
    D("-0.01"),
    D("-3"),
    D("0.001"),
    D("2.005"),
    D("NaN"),
    D("Infinity"),
    D("-Infinity"),
    D("1000000.00"),
    MAX_AMOUNT,
]
AMOUNTS = st.one_of(
    st.decimals(min_value=D("0.01"), max_value=D("25.00"), places=2),
    st.sampled_from(ODD_AMOUNTS),
)


def acceptable(amount) -> bool:
    return (
        amount is not None
        and amount.is_finite()
        and amount > 0
        and amount == amount.quantize(CENT)
        and amount <= MAX_AMOUNT
    )


@dataclass
class ModelFee:
    remaining: D
    status: str
    is_credit: bool
    order: tuple


class LedgerMachine(RuleBasedStateMachine):
    world: dict = {}  # actor, patron, site: set by the test, kept by the test's transaction

    def __init__(self):
        super().__init__()
        self.actor, self.patron, self.site = (self.world[k] for k in ("actor", "patron", "site"))
        self._atomic = transaction.atomic()
        self._atomic.__enter__()  # each run of the machine is rolled back in teardown
        Preferences.objects.update_or_create(
            pk=Preferences.SINGLETON_ID, defaults={"most_fees_waived_at_once": WAIVE_LIMIT}
        )
        open_cash(self.actor, self.site)
        self.fees: dict[int, ModelFee] = {}
        self.payments: dict[int, list[D]] = {}  # payment line -> [amount, refunded]
        self.exports: dict[int, tuple[list[int], bool]] = {}  # -> (fees, reversed)
        self.last = None  # the last accepted action and its key

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # --- how a step is run ---------------------------------------------------------------

    def attempt(self, accepted: bool, call):
        """Run `call(key)`; it must succeed when `accepted`, else refuse and change nothing."""
        once = key()
        if accepted:
            result = call(once)
            self.last = (call, once)
            return result
        before = ledger_state()
        with pytest.raises(ValidationError):
            call(once)
        assert ledger_state() == before
        return None

    def amount(self, data, whole: D):
        """An amount against `whole` (what is owed or left to refund): all of it, a cent
        more, part of it, or anything at all, odd values included."""
        choice = data.draw(st.sampled_from(["all", "cent more", "half", "any"]))
        if choice == "all":
            return whole
        if choice == "cent more":
            return whole + CENT
        if choice == "half":
            return (whole / 2).quantize(CENT)
        return data.draw(AMOUNTS)

    def chosen(self, data) -> list[int]:
        picked = data.draw(st.lists(st.sampled_from(sorted(self.fees)), max_size=4))
        return list(dict.fromkeys(picked))

    def oldest_first(self, fee_ids, amount) -> dict[int, D]:
        parts, left = {}, amount
        for pk in sorted(fee_ids, key=lambda pk: self.fees[pk].order):
            if left <= 0:
                break
            part = min(self.fees[pk].remaining, left)
            parts[pk] = part
            left -= part
        return parts

    def take(self, parts: dict[int, D]) -> None:
        for pk, part in parts.items():
            fee = self.fees[pk]
            fee.remaining -= part
            if fee.remaining == 0:
                fee.status = Fee.Status.CLOSED

    def all_in(self, fee_ids, statuses, credits=False) -> bool:
        return bool(fee_ids) and all(
            self.fees[pk].status in statuses and (credits or not self.fees[pk].is_credit)
            for pk in fee_ids
        )

    # --- the rules -------------------------------------------------------------------------

    def _new(self, fee, is_credit):
        if fee is not None:
            self.fees[fee.pk] = ModelFee(
                fee.original_amount, Fee.Status.ACTIVE, is_credit, (fee.created_at, fee.pk)
            )

    @rule(amount=AMOUNTS)
    def add_fee(self, amount):
        fee = self.attempt(
            acceptable(amount),
            lambda k: services.fee_add(
                actor=self.actor,
                patron=self.patron,
                key=k,
                fee_type=fee_type("OVERDUE"),
                owner_site=self.site,
                amount=amount,
            ),
        )
        self._new(fee, False)

    @rule(amount=AMOUNTS)
    def add_credit(self, amount):
        fee = self.attempt(
            acceptable(amount),
            lambda k: services.credit_add(
                actor=self.actor,
                patron=self.patron,
                key=k,
                fee_type=fee_type("CREDIT"),
                owner_site=self.site,
                amount=amount,
                comment="Returned the lost book",
            ),
        )
        self._new(fee, True)

    @precondition(lambda self: self.fees)
    @rule(data=st.data(), cash=st.booleans())
    def pay(self, data, cash):
        fee_ids = self.chosen(data)
        amount = self.amount(data, sum((self.fees[pk].remaining for pk in fee_ids), D("0.00")))
        tendered = None
        if cash and amount.is_finite():
            tendered = data.draw(st.sampled_from([None, amount, amount - CENT, amount + 5]))
        accepted = (
            self.all_in(fee_ids, {Fee.Status.ACTIVE})
            and acceptable(amount)
            and amount <= sum(self.fees[pk].remaining for pk in fee_ids)
            and (not cash or (acceptable(tendered) and tendered >= amount))
        )
        outcome = self.attempt(
            accepted,
            lambda k: services.fees_pay(
                actor=self.actor,
                patron=self.patron,
                key=k,
                fee_ids=fee_ids,
                amount=amount,
                method=method("CASH" if cash else "CARD"),
                site=self.site,
                tendered=tendered,
            ),
        )
        if outcome is None:
            return
        parts = self.oldest_first(fee_ids, amount)
        lines = outcome.receipt.lines.filter(kind=FeeTransaction.Kind.PAYMENT)
        assert dict(lines.values_list("fee_id", "amount")) == parts
        assert outcome.receipt.total == amount
        if cash:
            assert outcome.receipt.change_due == tendered - amount
        self.take(parts)
        for line in lines:
            self.payments[line.pk] = [line.amount, D("0.00")]

    @precondition(lambda self: self.fees)
    @rule(data=st.data(), in_full=st.booleans())
    def waive(self, data, in_full):
        fee_ids = self.chosen(data)
        owed = sum((self.fees[pk].remaining for pk in fee_ids), D("0.00"))
        amount = None if in_full else self.amount(data, owed)
        accepted = (
            len(fee_ids) <= WAIVE_LIMIT
            and self.all_in(fee_ids, {Fee.Status.ACTIVE, Fee.Status.DISPUTED}, credits=True)
            # credits are waived apart from fees
            and len({self.fees[pk].is_credit for pk in fee_ids}) <= 1
            and (amount is None or (acceptable(amount) and amount <= owed))
        )
        outcome = self.attempt(
            accepted,
            lambda k: services.fees_waive(
                actor=self.actor,
                patron=self.patron,
                key=k,
                fee_ids=fee_ids,
                reason=reason(),
                amount=amount,
            ),
        )
        if outcome is not None:
            self.take(self.oldest_first(fee_ids, owed if amount is None else amount))

    @precondition(lambda self: self.fees)
    @rule(data=st.data())
    def dispute(self, data):
        fee_ids = self.chosen(data)
        outcome = self.attempt(
            self.all_in(fee_ids, {Fee.Status.ACTIVE}),
            lambda k: services.fees_dispute(
                actor=self.actor, patron=self.patron, key=k, fee_ids=fee_ids
            ),
        )
        for pk in fee_ids if outcome else []:
            self.fees[pk].status = Fee.Status.DISPUTED

    @precondition(lambda self: self.fees)
    @rule(data=st.data())
    def restore(self, data):
        fee_ids = self.chosen(data)
        outcome = self.attempt(
            self.all_in(fee_ids, {Fee.Status.DISPUTED}),
            lambda k: services.fees_restore(
                actor=self.actor, patron=self.patron, key=k, fee_ids=fee_ids
            ),
        )
        for pk in fee_ids if outcome else []:
            self.fees[pk].status = Fee.Status.ACTIVE

    @precondition(lambda self: self.payments)
    @rule(data=st.data())
    def refund(self, data):
        payment_id = data.draw(st.sampled_from(sorted(self.payments)))
        paid, refunded = self.payments[payment_id]
        amount = self.amount(data, paid - refunded)
        accepted = acceptable(amount) and amount <= paid - refunded
        outcome = self.attempt(
            accepted,
            lambda k: services.payment_refund(
                actor=self.actor,
                patron=self.patron,
                key=k,
                payment_id=payment_id,
                amount=amount,
            ),
        )
        if outcome is not None:
            payment = FeeTransaction.objects.get(pk=payment_id)
            assert outcome.receipt.undoes_id == payment.receipt_id
            self.payments[payment_id][1] += amount

    @precondition(lambda self: self.fees)
    @rule(data=st.data())
    def transfer(self, data):
        fee_ids = self.chosen(data)
        outcome = self.attempt(
            self.all_in(fee_ids, {Fee.Status.ACTIVE}),
            lambda k: services.fees_transfer(
                actor=self.actor, patron=self.patron, key=k, fee_ids=fee_ids
            ),
        )
        if outcome is not None:
            for pk in fee_ids:
                self.fees[pk].status = Fee.Status.TRANSFERRED
            self.exports[outcome.export.pk] = (fee_ids, False)

    @precondition(lambda self: self.exports)
    @rule(data=st.data())
    def reverse(self, data):
        export_id = data.draw(st.sampled_from(sorted(self.exports)))
        fee_ids, reversed_already = self.exports[export_id]
        outcome = self.attempt(
            not reversed_already,
            lambda k: services.transfer_reverse(
                actor=self.actor,
                patron=self.patron,
                key=k,
                export_id=export_id,
            ),
        )
        if outcome is not None:
            for pk in fee_ids:
                if self.fees[pk].status == Fee.Status.TRANSFERRED:
                    self.fees[pk].status = Fee.Status.ACTIVE
            self.exports[export_id] = (fee_ids, True)

    @precondition(lambda self: self.last is not None)
    @rule()
    def submit_again(self):
        call, once = self.last
        before = ledger_state()
        with pytest.raises(services.AlreadyDone):
            call(once)
        assert ledger_state() == before

    # --- what holds after every step ------------------------------------------------------

    @invariant()
    def fees_are_as_the_model_says(self):
        stored = dict(
            (pk, (remaining, status))
            for pk, remaining, status in Fee.objects.values_list("pk", "remaining", "status")
        )
        assert stored == {pk: (f.remaining, f.status) for pk, f in self.fees.items()}

    @invariant()
    def remaining_is_the_ledger_sum(self):
        sums = {pk: D("0.00") for pk in self.fees}
        last = {}
        for fee_id, kind, amount, after in FeeTransaction.objects.order_by("pk").values_list(
            "fee_id", "kind", "amount", "balance_after"
        ):
            if kind in ("charge", "credit"):
                sums[fee_id] += amount
            elif kind in ("payment", "waive"):
                sums[fee_id] -= amount
            last[fee_id] = after
        for pk, fee in self.fees.items():
            assert sums[pk] == fee.remaining >= 0
            assert last[pk] == fee.remaining

    @invariant()
    def balance_is_the_sum_of_the_fees(self):
        found = (
            Balance.objects.filter(patron=self.patron)
            .values("active", "disputed", "transferred", "credit")
            .first()
        )
        expected = services.balance_sums(Fee.objects.filter(patron=self.patron))
        assert (found or {k: D("0.00") for k in expected}) == expected
        by_model = {k: D("0.00") for k in expected}
        for fee in self.fees.values():
            if fee.is_credit and fee.status == Fee.Status.ACTIVE:
                by_model["credit"] += fee.remaining
            elif not fee.is_credit and fee.status != Fee.Status.CLOSED:
                by_model[fee.status] += fee.remaining
        assert expected == by_model

    @invariant()
    def check_ledger_passes(self):
        out = io.StringIO()
        call_command("check_ledger", stdout=out, stderr=io.StringIO())
        assert out.getvalue().strip().endswith("0 differences.")


def test_the_ledger_holds_under_any_sequence_of_actions(librarian, patron, ams):
    LedgerMachine.world = {"actor": librarian, "patron": patron, "site": ams}
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
