"""Fees and the ledger.

A `Fee` is one amount a patron owes (or, for a credit, is owed), and `FeeTransaction` is its
append-only ledger: the database refuses to change a transaction (a trigger), and the
amounts are `numeric(12,2)`, never floats. `Fee.remaining` and the patron's `Balance` are
stored summaries of that ledger for speed, kept in the same transaction as the ledger row
that changes them, bounded by database constraints, and proven equal to the ledger by
`manage.py check_ledger` and the tests.

Money that changes hands gets a `Receipt`, numbered without gaps per site (a counter row
locked in the transaction, `ReceiptCounter`); cash belongs to the operator's open
`CashSession`. Every money form carries a one-time key (`MoneyRequest`): a form submitted
twice is recorded once.
"""

import uuid
from decimal import Decimal

import pgtrigger
from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q

from fines.money import CENT
from patrons.models.lists import ListEntry

MONEY = {"max_digits": 12, "decimal_places": 2}


class FeeType(ListEntry):
    """Overdue, Lost item... A credit type's fees are owed to the patron: shown negative,
    taken off the balance, added with a comment."""

    default_amount = models.DecimalField(
        **MONEY, null=True, blank=True, validators=[MinValueValidator(CENT)]
    )
    is_credit = models.BooleanField("credit", default=False)

    class Meta(ListEntry.Meta):
        constraints = [
            models.CheckConstraint(
                condition=Q(default_amount__isnull=True) | Q(default_amount__gt=0),
                name="fee_type_default_amount_positive",
            )
        ]


class WaiveReason(ListEntry):
    class Meta(ListEntry.Meta):
        pass


class PaymentMethod(ListEntry):
    """Cash, Card... Cash payments belong to a cash session and may give change."""

    is_cash = models.BooleanField("cash", default=False)

    class Meta(ListEntry.Meta):
        pass


class Fee(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        DISPUTED = "disputed", "In dispute"
        CLOSED = "closed", "Closed"
        TRANSFERRED = "transferred", "Transferred"

    patron = models.ForeignKey("patrons.Patron", on_delete=models.CASCADE, related_name="fees")
    fee_type = models.ForeignKey(FeeType, on_delete=models.PROTECT, related_name="fees")
    is_credit = models.BooleanField(default=False)  # the type's, when the fee was added
    owner_site = models.ForeignKey("sites.Site", on_delete=models.PROTECT, related_name="+")
    item_barcode = models.CharField(max_length=40, blank=True)
    comment = models.CharField(max_length=500, blank=True)
    original_amount = models.DecimalField(**MONEY)
    remaining = models.DecimalField(**MONEY)  # the ledger's sum, kept with each transaction
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE)
    status_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "pk"]
        default_permissions = ("add", "view")
        permissions = [
            ("pay_fee", "Take payments"),
            ("waive_fee", "Waive fees"),
            ("dispute_fee", "Dispute and restore fees"),
            ("refund_fee", "Refund payments"),
            ("credit_fee", "Give credit"),
            ("transfer_fee", "Transfer fees to the bursar"),
        ]
        indexes = [models.Index(fields=["patron", "status"], name="fee_patron_status")]
        constraints = [
            models.CheckConstraint(
                condition=Q(original_amount__gt=0), name="fee_original_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(remaining__gte=0, remaining__lte=F("original_amount")),
                name="fee_remaining_within_original",
            ),
            # Closed exactly when nothing remains.
            models.CheckConstraint(
                condition=Q(status="closed", remaining=0)
                | (~Q(status="closed") & Q(remaining__gt=0)),
                name="fee_closed_when_nothing_remains",
            ),
        ]

    def __str__(self):
        return f"{self.fee_type} {self.original_amount}"

    @property
    def signed_remaining(self) -> Decimal:
        return -self.remaining if self.is_credit else self.remaining

    @property
    def signed_original(self) -> Decimal:
        return -self.original_amount if self.is_credit else self.original_amount


class FeeTransaction(models.Model):
    """One line of a fee's ledger; never changed once written."""

    class Kind(models.TextChoices):
        CHARGE = "charge", "Charge"
        CREDIT = "credit", "Credit"
        PAYMENT = "payment", "Payment"
        WAIVE = "waive", "Waive"
        DISPUTE = "dispute", "Dispute"
        RESTORE = "restore", "Restore"
        REFUND = "refund", "Refund"
        TRANSFER = "transfer", "Transfer to bursar"
        REVERSE_TRANSFER = "reverse_transfer", "Transfer reversed"

    # Deleted only with their fee, by the database (ON DELETE CASCADE, migration 0004): the
    # trigger below refuses any other DELETE, so no line is ever removed on its own.
    fee = models.ForeignKey(Fee, on_delete=models.DO_NOTHING, related_name="transactions")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    amount = models.DecimalField(**MONEY)
    balance_after = models.DecimalField(**MONEY)  # the fee's remaining after this line
    # Named relations (not "+"): the Preferences lists see that an entry is in use.
    payment_method = models.ForeignKey(
        PaymentMethod, null=True, blank=True, on_delete=models.PROTECT, related_name="transactions"
    )
    waive_reason = models.ForeignKey(
        WaiveReason, null=True, blank=True, on_delete=models.PROTECT, related_name="transactions"
    )
    receipt = models.ForeignKey(
        "fines.Receipt", null=True, blank=True, on_delete=models.PROTECT, related_name="lines"
    )
    # Lines go only with their fee (the database's cascade), the refund with its payment.
    refund_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.DO_NOTHING, related_name="refunds"
    )
    bursar_export = models.ForeignKey(
        "fines.BursarExport", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    comment = models.CharField(max_length=500, blank=True)
    at = models.DateTimeField(auto_now_add=True)
    # No constraint and nothing done on delete: a line is never updated (not even to empty
    # the link to an operator who is deleted); `by_name` keeps who it was.
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    by_name = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["at", "pk"]
        triggers = [
            pgtrigger.Protect(name="fee_transaction_append_only", operation=pgtrigger.Update),
            # A cascade from the fee runs inside the foreign key's own trigger (depth 1).
            pgtrigger.Protect(
                name="fee_transaction_no_direct_delete",
                operation=pgtrigger.Delete,
                condition=pgtrigger.Condition("pg_trigger_depth() = 0"),
            ),
        ]
        indexes = [models.Index(fields=["fee", "at"], name="fee_transaction_fee_at")]
        constraints = [
            # Money lines move a positive amount; status lines (dispute, restore, transfer,
            # reverse) record the amount they concern, which may be the whole remaining.
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="fee_transaction_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="fee_transaction_balance_not_negative"
            ),
            models.CheckConstraint(
                condition=~Q(kind="payment")
                | Q(payment_method__isnull=False, receipt__isnull=False),
                name="fee_payment_has_method_and_receipt",
            ),
            models.CheckConstraint(
                condition=~Q(kind="waive") | Q(waive_reason__isnull=False),
                name="fee_waive_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(kind="refund") | Q(refund_of__isnull=False, receipt__isnull=False),
                name="fee_refund_names_its_payment",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.amount}"


class Balance(models.Model):
    """A patron's balances, the sums of their fees' remaining amounts by status. `net` is
    what the debt limit and the list's "owes more than" read: active fees less credit."""

    patron = models.OneToOneField(
        "patrons.Patron", primary_key=True, on_delete=models.CASCADE, related_name="balance"
    )
    active = models.DecimalField(**MONEY, default=Decimal("0.00"))
    disputed = models.DecimalField(**MONEY, default=Decimal("0.00"))
    transferred = models.DecimalField(**MONEY, default=Decimal("0.00"))
    credit = models.DecimalField(**MONEY, default=Decimal("0.00"))
    net = models.GeneratedField(
        expression=F("active") - F("credit"),
        output_field=models.DecimalField(**MONEY),
        db_persist=True,
    )

    class Meta:
        indexes = [models.Index(fields=["net"], name="balance_net")]
        constraints = [
            models.CheckConstraint(
                condition=Q(active__gte=0, disputed__gte=0, transferred__gte=0, credit__gte=0),
                name="balance_parts_not_negative",
            )
        ]

    def __str__(self):
        return f"{self.net}"


class ReceiptCounter(models.Model):
    """The last receipt number of a site: locked in the transaction that takes the next,
    so numbers have no gaps (a rolled-back payment gives its number back)."""

    site = models.OneToOneField("sites.Site", primary_key=True, on_delete=models.CASCADE)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.site_id}: {self.last_number}"


class CashSession(models.Model):
    """An operator's cash drawer at a site: opened with a float, closed with a blind count."""

    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    operator_name = models.CharField(max_length=150)
    site = models.ForeignKey("sites.Site", on_delete=models.PROTECT, related_name="+")
    opened_at = models.DateTimeField(auto_now_add=True)
    opening_float = models.DecimalField(**MONEY, validators=[MinValueValidator(0)])
    closed_at = models.DateTimeField(null=True, blank=True)
    expected = models.DecimalField(**MONEY, null=True, blank=True)
    counted = models.DecimalField(**MONEY, null=True, blank=True)
    close_note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-opened_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["operator"],
                condition=Q(closed_at__isnull=True),
                name="cash_session_one_open_per_operator",
            ),
            models.CheckConstraint(
                condition=Q(opening_float__gte=0), name="cash_float_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(closed_at__isnull=True)
                | Q(expected__isnull=False, counted__isnull=False, counted__gte=0),
                name="cash_session_closed_with_a_count",
            ),
        ]

    def __str__(self):
        return f"{self.operator_name} at {self.site_id}, {self.opened_at:%Y-%m-%d}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def difference(self) -> Decimal | None:
        if self.counted is None or self.expected is None:
            return None
        return self.counted - self.expected


class Receipt(models.Model):
    """Money taken or given back at a site, numbered without gaps per site. A refund names
    the receipt it undoes. Its lines are kept as printed: they outlive the patron."""

    class Kind(models.TextChoices):
        PAYMENT = "payment", "Payment"
        REFUND = "refund", "Refund"

    site = models.ForeignKey("sites.Site", on_delete=models.PROTECT, related_name="+")
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    patron = models.ForeignKey(
        "patrons.Patron", null=True, on_delete=models.SET_NULL, related_name="receipts"
    )
    patron_name = models.CharField(max_length=200)
    patron_barcode = models.CharField(max_length=15, blank=True)
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    operator_name = models.CharField(max_length=150)
    at = models.DateTimeField(auto_now_add=True)
    payment_method = models.ForeignKey(
        PaymentMethod, on_delete=models.PROTECT, related_name="receipts"
    )
    total = models.DecimalField(**MONEY)
    tendered = models.DecimalField(**MONEY, null=True, blank=True)
    change_due = models.DecimalField(**MONEY, null=True, blank=True)
    cash_session = models.ForeignKey(
        CashSession, null=True, blank=True, on_delete=models.PROTECT, related_name="receipts"
    )
    undoes = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="undone_by"
    )
    printed_lines = models.JSONField(default=list)  # [{"type", "barcode", "amount", "left"}]

    class Meta:
        ordering = ["-at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["site", "number"], name="receipt_number_per_site"),
            models.CheckConstraint(condition=Q(total__gt=0), name="receipt_total_positive"),
            models.CheckConstraint(
                condition=Q(change_due__isnull=True) | Q(change_due__gte=0),
                name="receipt_change_not_negative",
            ),
            models.CheckConstraint(
                condition=~Q(kind="refund") | Q(undoes__isnull=False),
                name="receipt_refund_names_what_it_undoes",
            ),
        ]

    def __str__(self):
        return self.label

    @property
    def label(self) -> str:
        """As printed and quoted: the site's code and the number, "AMS-000123"."""
        return f"{self.site.code}-{self.number:06d}"


class BursarExport(models.Model):
    """Fees sent to the institution's bursar as CSV: they leave the active balance."""

    at = models.DateTimeField(auto_now_add=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    patron = models.ForeignKey(
        "patrons.Patron", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    total = models.DecimalField(**MONEY)
    csv = models.TextField()  # the file as sent, to download again
    reversed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self):
        return f"Transfer {self.pk}"


class MoneyRequest(models.Model):
    """A money form's one-time key: the first submission records the action, a repeat
    (double click, retry, back and resubmit) finds this row and shows the first result."""

    key = models.UUIDField(primary_key=True, default=uuid.uuid4)
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    patron = models.ForeignKey("patrons.Patron", on_delete=models.CASCADE, related_name="+")
    action = models.CharField(max_length=20)
    at = models.DateTimeField(auto_now_add=True)
    receipt = models.ForeignKey(
        Receipt, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self):
        return str(self.key)
