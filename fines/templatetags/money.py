"""{{ amount|money }}: an amount in the library's currency (LIBSTAFF_CURRENCY)."""

from django import template

from fines.money import format_money

register = template.Library()


@register.filter
def money(amount):
    return format_money(amount)


@register.simple_tag
def currency_code():
    from django.conf import settings

    return settings.LIBSTAFF_CURRENCY
