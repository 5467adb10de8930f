"""Operations that change fees, receipts and cash sessions."""

from fines.services.cash import (
    cash_session_close,
    cash_session_open,
    expected_cash,
    open_session,
)
from fines.services.ledger import (
    ADD,
    CREDIT,
    DISPUTE,
    PAY,
    REFUND,
    TRANSFER,
    VIEW,
    WAIVE,
    AlreadyDone,
    Outcome,
    balance_sums,
    credit_add,
    fee_add,
    fees_dispute,
    fees_pay,
    fees_restore,
    fees_transfer,
    fees_waive,
    payment_refund,
    transfer_reverse,
)

__all__ = [
    "ADD", "CREDIT", "DISPUTE", "PAY", "REFUND", "TRANSFER", "VIEW", "WAIVE",
    "AlreadyDone", "Outcome", "balance_sums", "cash_session_close", "cash_session_open",
    "credit_add", "expected_cash", "fee_add", "fees_dispute", "fees_pay", "fees_restore",
    "fees_transfer", "fees_waive", "open_session", "payment_refund", "transfer_reverse",
]
