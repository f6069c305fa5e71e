from django import template

from antidote.money import format_paise

register = template.Library()


@register.filter
def paise(value):
    """Integer paise as rupees: ``{{ package.price_paise|paise }}`` → ₹7,500."""
    return format_paise(value)


@register.filter
def signed(value):
    """Credits with their sign: +1,000 / -250."""
    return f"{value:+,}"
