"""The portal's and the admin's one way to show numbers: ``{% load money %}``.

``{{ credits|num }}`` → 1,00,000 · ``{{ paise|paise }}`` → ₹1,00,000 · ``{{ credits|signed }}``
→ +1,000. Indian grouping from Babel's en_IN locale (antidote.money).
"""

from django import template

from antidote.money import format_number, format_paise, format_signed

register = template.Library()


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@register.filter
def num(value):
    """A whole number in Indian grouping; anything that is not a number is shown as it is."""
    return format_number(value) if _whole(value) else value


@register.filter
def paise(value):
    """Integer paise as rupees: ``{{ package.price_paise|paise }}`` → ₹7,500."""
    return format_paise(value)


@register.filter
def signed(value):
    """Credits with their sign: +1,000 / -250."""
    return format_signed(value) if _whole(value) else value
