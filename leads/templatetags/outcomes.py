"""``{% load outcomes %}``: the inbox's quick contact links."""

from django import template

register = template.Library()


@register.filter
def whatsapp(contact, clinic_name):
    """``{{ contact|whatsapp:clinic.name }}``: a wa.me link with a greeting, "" while masked."""
    return contact.whatsapp(str(clinic_name))
