"""Portal snippets about credit lots, for pages outside billing (dashboard, top-up)."""

from django import template

from billing.selectors import next_expiry

register = template.Library()


@register.inclusion_tag("billing/_expiry_notice.html", takes_context=True)
def expiry_notice(context):
    """ "N credits expire on D" for the clinic of the page, if any credits are due to."""
    clinic = context.get("clinic")
    return {"upcoming": next_expiry(clinic=clinic) if clinic is not None else None}
