"""Reads for the lead inbox and the public pages."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.http import urlencode

from billing.selectors import clinics_not_taking_enquiries, lead_net_charge, tier_price_range
from leads.models import (
    CONTACT_PAID_FOR,
    ClinicMember,
    InboxDefault,
    Invitation,
    Lead,
    LeadEvent,
    LeadNote,
    Package,
)


def duplicate_original(*, clinic_id: int, phone: str, before: Lead | None = None) -> Lead | None:
    """The one duplicate rule: the lead a new enquiry (or ``before``) repeats, if any.

    An original is an earlier lead of the same clinic and E.164 phone, at most
    ``LEAD_DUPLICATE_WINDOW_DAYS`` older, that the clinic pays for: charged and not refunded
    in full (a partial refund still counts), or waiting in the queue to be charged. Free
    leads never count: duplicates (so a chain of repeats cannot stretch the window), leads
    refunded in full, and leads let go free. Intake and automatic dispute approval both ask
    this, so a lead charged as new is never refunded as a duplicate, and the reverse.
    """
    at = before.created_at if before is not None else timezone.now()
    earlier = (
        Q(created_at__lt=at) | Q(created_at=at, pk__lt=before.pk)
        if before is not None
        else Q(created_at__lte=at)
    )
    since = at - timedelta(days=settings.LEAD_DUPLICATE_WINDOW_DAYS)
    paid_for = Q(billing_state=Lead.Billing.CHARGED, net_charge__gt=0) | Q(
        billing_state__in=Lead.WAITING_STATES
    )
    return (
        Lead.objects.filter(earlier, clinic_id=clinic_id, phone=phone, created_at__gte=since)
        .annotate(net_charge=lead_net_charge())
        .filter(paid_for)
        .order_by("created_at", "id")
        .first()
    )


def leads_for(*, clinic, filters: dict | None = None, user=None):
    """A clinic's leads, newest first, narrowed by the inbox filters.

    Archived leads are left out unless ``archived`` asks for them; "mine" means assigned to
    ``user``'s membership of this clinic.
    """
    filters = filters or {}
    leads = (
        Lead.objects.filter(clinic=clinic)
        .select_related("package", "assigned_to__user")
        .prefetch_related("disputes")  # each row shows its dispute state
        .with_contact_rule()
    )
    archived = filters.get("archived") or ""
    if archived == "yes":
        leads = leads.filter(archived=True)
    elif archived != "any":
        leads = leads.filter(archived=False)
    if filters.get("assigned") == "mine":
        leads = leads.filter(assigned_to__user=user, assigned_to__clinic=clinic)
    elif filters.get("assigned") == "unassigned":
        leads = leads.filter(assigned_to__isnull=True)
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
        if filters.get("phone_query"):
            matches |= visible & Q(phone__contains=filters["phone_query"])
        if filters.get("lead_number"):
            matches |= Q(pk=filters["lead_number"])
        leads = leads.filter(matches)
    return leads


def clinic_members(*, clinic):
    """The members a clinic's lead can be assigned to, by name."""
    return (
        ClinicMember.objects.filter(clinic=clinic).select_related("user").order_by("user__username")
    )


def inbox_default(*, member) -> InboxDefault | None:
    return InboxDefault.objects.filter(member=member).first()


def notes_for(*, lead: Lead):
    return LeadNote.objects.filter(lead=lead)


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

    @property
    def tel(self) -> str:
        """A ``tel:`` link for the quick call button ("" while masked)."""
        return "" if self.masked or not self.phone else f"tel:{self.phone}"

    def whatsapp(self, clinic_name: str) -> str:
        """A ``wa.me`` link with a greeting ready to send ("" while masked)."""
        if self.masked or not self.phone:
            return ""
        greeting = (
            f"Hello {self.name or 'there'}, this is {clinic_name}. Thank you for your enquiry; "
            "when would be a good time to talk?"
        )
        return f"https://wa.me/{self.phone.lstrip('+')}?" + urlencode({"text": greeting})


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


def lead_events(*, lead: Lead):
    """The lead's timeline: each outcome step with who made it and when, newest first."""
    return LeadEvent.objects.filter(lead=lead).order_by("-at", "-id")


def team_members(*, clinic):
    return (
        ClinicMember.objects.filter(clinic=clinic).select_related("user").order_by("user__username")
    )


def team_history(*, clinic, limit: int = 50):
    """The clinic's membership changes, newest first, with who made each."""
    return (
        ClinicMember.history.filter(clinic_id=clinic.pk)
        .select_related("user", "history_user")
        .order_by("-history_date", "-history_id")[:limit]
    )


def open_invitations(*, clinic):
    """Invitations not yet accepted or withdrawn, expired ones included (marked so)."""
    return Invitation.objects.filter(
        clinic=clinic, accepted_at__isnull=True, revoked_at__isnull=True
    ).select_related("invited_by")


def other_clinics_in_tier(*, clinic, prices, limit: int = 6) -> list[Package]:
    """Active packages of other active clinics, taking enquiries, in the price tiers of
    ``prices`` (package prices in paise; None for a general enquiry): where a patient of a
    paused or capped clinic may turn instead. One package per clinic, cheapest first."""
    in_tiers = Q()
    for price in set(prices) or {None}:
        low, high = tier_price_range(price_paise=price)
        in_tiers |= Q(price_paise__gte=low) & (Q(price_paise__lt=high) if high else Q())
    candidates = list(
        Package.objects.filter(in_tiers, is_active=True, clinic__is_active=True)
        .exclude(clinic=clinic)
        .select_related("clinic")
        .order_by("price_paise", "pk")[: limit * 4]
    )
    closed = clinics_not_taking_enquiries(clinic_ids={p.clinic_id for p in candidates})
    chosen, seen = [], set()
    for package in candidates:
        if package.clinic_id not in closed and package.clinic_id not in seen:
            seen.add(package.clinic_id)
            chosen.append(package)
    return chosen[:limit]
