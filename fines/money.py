"""Amounts of money: how they are written (LIBSTAFF_CURRENCY, in the library's locale) and
which of them a form or a service accepts."""

from decimal import Decimal, InvalidOperation

from babel.numbers import format_currency, get_currency_symbol
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
    return format_currency(
        amount, settings.LIBSTAFF_CURRENCY, locale=settings.LIBSTAFF_CURRENCY_LOCALE
    )


def currency_symbol() -> str:
    return get_currency_symbol(settings.LIBSTAFF_CURRENCY, locale=settings.LIBSTAFF_CURRENCY_LOCALE)


def amount_refusal(value) -> str | None:
    """Why `value` is not an amount one may record (None: it is). Services ask it too, so a
    crafted call gets the same answer as the form."""
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return NOT_A_NUMBER
    if not amount.is_finite():
        return NOT_A_NUMBER
    if amount <= 0:
        return NOT_POSITIVE
    if amount > MAX_AMOUNT:
        return TOO_LARGE.format(max=format_money(MAX_AMOUNT))
    if amount.as_tuple().exponent < -2 and amount != amount.quantize(CENT):
        return TOO_MANY_DECIMALS
    return None
