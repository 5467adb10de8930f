"""Amounts of money: how they are written (LIBSTAFF_CURRENCY, in the library's locale) and
which of them a form or a service accepts."""

import functools
from decimal import Decimal, InvalidOperation

from babel.numbers import format_currency
from django.conf import settings

CENT = Decimal("0.01")
# The most one fee, payment or credit may be: a typing slip (an extra row of zeros) is
# refused, not recorded. The column holds far more (numeric(12,2)).
MAX_AMOUNT = Decimal("999999.99")

NOT_A_NUMBER = "Enter an amount such as 12.50."
NOT_POSITIVE = "Enter an amount greater than zero."
TOO_MANY_DECIMALS = "Enter the amount in whole cents: at most two decimals."
TOO_LARGE = "That amount is too large: the most is {max}."


def format_money(amount: Decimal | None) -> str:
    if amount is None or amount == "":
        return ""
    return _formatted(amount, settings.LIBSTAFF_CURRENCY, settings.LIBSTAFF_CURRENCY_LOCALE)


@functools.lru_cache(maxsize=4096)
def _formatted(amount: Decimal, currency: str, locale: str) -> str:
    """A page of fees writes the same few amounts again and again; Babel takes ~25 us each."""
    return format_currency(amount, currency, locale=locale)


def amount_refusal(value, *, zero_allowed=False, below=NOT_POSITIVE) -> str | None:
    """Why `value` is not an amount one may record (None: it is). A fee, payment or credit
    is more than zero; a cash float or count may be zero (`zero_allowed`), with `below` as
    the message for less. Services ask it too, so a crafted call gets the form's answer."""
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return NOT_A_NUMBER
    if not amount.is_finite():
        return NOT_A_NUMBER
    if amount < 0 or (amount == 0 and not zero_allowed):
        return below
    if amount > MAX_AMOUNT:  # first: quantizing an absurd amount would overflow
        return TOO_LARGE.format(max=format_money(MAX_AMOUNT))
    if amount != amount.quantize(CENT):
        return TOO_MANY_DECIMALS
    return None
