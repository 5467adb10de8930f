"""The fines lists a new library starts with (Preferences edit them later). Used by the
data migration and by tests that flush the database."""

from decimal import Decimal

FEE_TYPES = [
    ("OVERDUE", "Overdue", None, False),
    ("LOST", "Lost item", None, False),
    ("DAMAGED", "Damaged item", None, False),
    ("CARD", "Card replacement", Decimal("2.00"), False),
    ("PROCESSING", "Processing fee", Decimal("5.00"), False),
    ("CREDIT", "Credit", None, True),
]
WAIVE_REASONS = [
    ("RETURNED", "Item returned"),
    ("STAFF-ERROR", "Staff error"),
    ("HARDSHIP", "Hardship"),
    ("GOODWILL", "Goodwill"),
    ("DISPUTE-UPHELD", "Dispute upheld"),
]
PAYMENT_METHODS = [
    ("CASH", "Cash", True),
    ("CARD", "Card", False),
    ("CHEQUE", "Cheque", False),
    ("ONLINE", "Online", False),
]


def ensure_default_lists(apps) -> None:
    """Create the default entries that are missing (by code; entries kept as configured)."""
    FeeType = apps.get_model("fines", "FeeType")
    WaiveReason = apps.get_model("fines", "WaiveReason")
    PaymentMethod = apps.get_model("fines", "PaymentMethod")
    for code, name, amount, is_credit in FEE_TYPES:
        FeeType.objects.get_or_create(
            code=code, defaults={"name": name, "default_amount": amount, "is_credit": is_credit}
        )
    for code, name in WAIVE_REASONS:
        WaiveReason.objects.get_or_create(code=code, defaults={"name": name})
    for code, name, is_cash in PAYMENT_METHODS:
        PaymentMethod.objects.get_or_create(code=code, defaults={"name": name, "is_cash": is_cash})
