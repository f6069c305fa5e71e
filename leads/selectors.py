"""Reads for the lead inbox and the public pages."""

from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from leads.models import CONTACT_PAID_FOR, Lead


def leads_for(*, clinic, filters: dict | None = None):
    """A clinic's leads, newest first, narrowed by the inbox filters."""
    filters = filters or {}
    leads = Lead.objects.filter(clinic=clinic).select_related("package").with_contact_rule()
    if filters.get("status"):
        leads = leads.filter(status=filters["status"])
    if filters.get("billing_state"):
        leads = leads.filter(billing_state=filters["billing_state"])
    if filters.get("package"):
        leads = leads.filter(package=filters["package"])
    if filters.get("date_from"):
        leads = leads.filter(created_at__date__gte=filters["date_from"])
    if filters.get("date_to"):
        leads = leads.filter(created_at__date__lte=filters["date_to"])
    if query := (filters.get("q") or "").strip():
        # Masked contact details are hidden, so they are not searchable either.
        visible = CONTACT_PAID_FOR
        matches = (visible & (Q(patient_name__icontains=query) | Q(phone__icontains=query))) | Q(
            package__name__icontains=query
        )
        if filters.get("lead_number"):
            matches |= Q(pk=filters["lead_number"])
        leads = leads.filter(matches)
    return leads


def leads_this_month(*, clinic) -> int:
    start = timezone.localtime().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return Lead.objects.filter(clinic=clinic, created_at__gte=start).count()


@dataclass(frozen=True)
class LeadContact:
    name: str
    phone: str
    email: str
    message: str
    masked: bool


def lead_contact(lead: Lead) -> LeadContact:
    """What the clinic may see of the patient: nothing identifying until it is paid for."""
    if not lead.contact_masked:
        return LeadContact(lead.patient_name, lead.phone, lead.email, lead.message, masked=False)
    first = lead.patient_name[:1]
    return LeadContact(
        name=f"{first}{'•' * 4}" if first else "Hidden",
        phone=f"{lead.phone[:5]}•••••{lead.phone[-2:]}" if lead.phone else "",
        email="hidden until released" if lead.email else "",
        message="Hidden until this lead is released. Top up to see it.",
        masked=True,
    )
