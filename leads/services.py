"""Lead intake and billing: every delivered lead is charged exactly once at its snapshot price.

A lead the clinic cannot afford is *held* (saved, contact masked) and charged and released,
oldest first, as soon as credits arrive; one its own budget does not allow (a cap, a pause)
waits the same way, *over budget*, until the period rolls over or the budget gets room.
While any lead waits, a new one queues behind it.
The patient's experience never depends on billing.

Lock order, the same on every path that charges or refunds a lead: the clinic row (intake,
release and flagging, which decide the queue), then lead rows in primary-key order, then the
clinic's credit account (taken inside ``billing.post_entry``), then, last of all, the counter
rows of the quality score (``disputes.QualityDay``, through ``lead_charged``). Leads are
locked ``FOR NO KEY UPDATE``, never ``FOR UPDATE``: a ledger entry's foreign-key check takes
``FOR KEY SHARE`` on its lead *after* the account lock, and that share lock conflicts only
with ``FOR UPDATE``. So a charge that arrives through billing directly never waits on a lead
that a release holds while waiting for the account.
"""

import logging
import re
from dataclasses import dataclass
from datetime import date, timedelta

import phonenumbers
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from antidote.errors import AntidoteError, InsufficientCredits, OverBudget
from antidote.money import format_number, format_paise
from billing import services as billing
from billing.selectors import lead_net_charged
from leads.models import (
    Clinic,
    ClinicMember,
    InboxDefault,
    Invitation,
    Lead,
    LeadEvent,
    LeadNote,
    Package,
)
from leads.selectors import duplicate_original
from leads.signals import lead_charged
from notifications import services as notifications
from notifications.models import EventType

logger = logging.getLogger(__name__)

# What we store: E.164 (+91XXXXXXXXXX), so duplicate detection compares like with like.
_MOBILE_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
}


def parse_indian_mobile(raw: str) -> str | None:
    """``raw`` as +91XXXXXXXXXX if it is an Indian mobile number that can exist, else None.

    ``phonenumbers`` (Google's libphonenumber metadata) knows which Indian ranges are mobile;
    letters are refused first, because the library would read "98765abcde" as a keypad word.
    """
    if not raw or len(raw) > 40 or any(ch.isalpha() for ch in raw):
        return None
    try:
        number = phonenumbers.parse(raw, "IN")
    except phonenumbers.NumberParseException:
        return None
    if number.country_code != 91 or not phonenumbers.is_valid_number(number):
        return None
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_phone(raw: str) -> str:
    """An Indian mobile number as +91XXXXXXXXXX, or a clear error."""
    normalised = parse_indian_mobile(raw)
    if normalised is not None:
        return normalised
    if (raw or "").strip().startswith(("+", "00")) and not re.sub(r"[\s\-()]", "", raw).startswith(
        ("+91", "0091")
    ):
        raise AntidoteError("Enter an Indian mobile number (+91 followed by 10 digits).")
    raise AntidoteError("Enter a valid 10-digit Indian mobile number, e.g. 98765 43210.")


def submit_enquiry(
    *,
    clinic: Clinic,
    package: Package | None = None,
    name: str,
    phone: str,
    email: str = "",
    message: str = "",
) -> Lead:
    """Record a patient's enquiry and bill it: charged, held, or a free duplicate."""
    if package is not None and package.clinic_id != clinic.pk:
        raise AntidoteError("That package belongs to another clinic.")
    phone = normalise_phone(phone)
    with transaction.atomic():
        # One intake at a time per clinic, so duplicate detection cannot race.
        clinic = Clinic.objects.select_for_update().get(pk=clinic.pk)
        if not clinic.is_active:
            raise AntidoteError("This clinic is not taking enquiries at the moment.")
        if package is not None:
            package = Package.objects.get(pk=package.pk)
            if not package.is_active:
                raise AntidoteError("This package is no longer offered.")
        price = package.price_paise if package else None
        quote = billing.quote_lead_price(package_price_paise=price)
        original = duplicate_original(clinic_id=clinic.pk, phone=phone)
        # One queue per clinic, strictly oldest first: while any lead waits, a new one joins
        # behind it, even if the clinic could pay for the newcomer alone, and waits for what
        # the head of the queue waits for (credits, or room in the budget).
        queue_head = (
            Lead.objects.filter(clinic=clinic, billing_state__in=Lead.WAITING_STATES)
            .order_by("created_at", "pk")
            .values_list("billing_state", flat=True)
            .first()
        )
        lead = Lead.objects.create(
            clinic=clinic,
            package=package,
            patient_name=name.strip(),
            phone=phone,
            email=email.strip(),
            message=message.strip(),
            package_price_paise=price,
            tier_min_price_paise=quote.tier_min_price_paise,
            price_credits=quote.credits,
            billing_state=Lead.Billing.DUPLICATE if original else queue_head or Lead.Billing.HELD,
            duplicate_of=original,
        )
        if original is None:
            charged = queue_head is None and _try_charge(lead)
            _emit_lead_event(lead, "delivered" if charged else lead.billing_state)
    return lead


def _try_charge(lead: Lead) -> bool:
    """Charge a waiting lead and release it; False if the clinic can't pay for it (it stays
    held) or its budget does not allow it (it waits over budget)."""
    try:
        billing.charge_lead(lead=lead)
    except (InsufficientCredits, OverBudget) as refusal:
        waits_for = (
            Lead.Billing.OVER_BUDGET if isinstance(refusal, OverBudget) else Lead.Billing.HELD
        )
        if lead.billing_state != waits_for:
            lead.billing_state = waits_for
            lead.save(update_fields=["billing_state"])
        return False
    lead.billing_state = Lead.Billing.CHARGED
    lead.charged_at = timezone.now()
    lead.save(update_fields=["billing_state", "charged_at"])
    # Counted by the apps that keep figures of charged leads (disputes' quality score), in
    # this transaction. The only place a lead becomes charged; nothing makes it uncharged.
    lead_charged.send(sender=Lead, lead=lead)
    return True


def release_held_leads(*, clinic_id: int) -> list[Lead]:
    """Charge and release a clinic's waiting leads from the head of its queue (oldest first)
    while it can afford them; stop at the first it cannot, so no newer lead goes ahead."""
    released = []
    with transaction.atomic():
        # The clinic row first, as intake takes it: a lead arriving meanwhile waits, then
        # sees the queue as this release left it (and is charged at once if it is empty).
        # NO KEY UPDATE still conflicts with intake's lock, but not with rows that merely
        # reference the clinic (a payment order being created).
        clinic = Clinic.objects.select_for_update(no_key=True).get(pk=clinic_id)
        # Then the leads, locked in primary-key order (the documented lock order).
        held = list(
            Lead.objects.select_for_update(no_key=True)
            .filter(clinic_id=clinic_id, billing_state__in=Lead.WAITING_STATES)
            .order_by("pk")
        )
        if held and not clinic.is_active:
            raise AntidoteError(f"{clinic} is inactive; its {len(held)} held lead(s) wait.")
        queue = sorted(held, key=lambda lead: (lead.created_at, lead.pk))
        for position, lead in enumerate(queue):
            if not _try_charge(lead):
                # The leads behind wait for what the head now waits for (credits or budget).
                for behind in queue[position + 1 :]:
                    if behind.billing_state != lead.billing_state:
                        behind.billing_state = lead.billing_state
                        behind.save(update_fields=["billing_state"])
                break
            released.append(lead)
        for lead in released:
            _emit_lead_event(lead, "released")
    if released:
        logger.info("Released %d held leads of clinic #%d", len(released), clinic_id)
    return released


@dataclass(frozen=True)
class TechnicalErrorFlag:
    lead: Lead
    refunded_credits: int  # what a charged lead got back; 0 for a waiting or free one


def flag_technical_error(*, lead: Lead, actor, reason: str) -> TechnicalErrorFlag:
    """Staff flag a lead as broken at the source: it is never charged.

    A waiting lead leaves the queue free of charge (unmasked, "Free: technical error") and the
    leads behind it move up. A charged one gets back what is left of its charge, through
    billing's refund (an entry keyed ``refund:technical-error:lead:<id>``, so once; the
    ledger stays append-only). A duplicate was free already. Who flagged it and why are kept
    in the lead's history.
    """
    if (
        actor is None
        or not getattr(actor, "is_staff", False)
        or not actor.has_perm("leads.flag_technical_error")
    ):
        raise AntidoteError("Only staff allowed to flag technical errors can flag a lead.")
    reason = (reason or "").strip()
    if not reason:
        raise AntidoteError("Say what went wrong at the source; it is kept with the lead.")
    refunded = 0
    with transaction.atomic():
        # The documented order: the clinic row (this may change the queue, as release does),
        # the lead, then the account inside billing. A release holding this lead finishes
        # first, and the lead it charged is then refunded here.
        clinic = Clinic.objects.select_for_update(no_key=True).get(pk=lead.clinic_id)
        locked = Lead.objects.select_for_update(no_key=True).get(pk=lead.pk)
        still_charged = (
            locked.billing_state == Lead.Billing.CHARGED and lead_net_charged(lead=locked) > 0
        )
        # A lead flagged and still charged (the old admin action flagged without refunding,
        # and reconcile names it) may be flagged again: that refunds what is left, once.
        if locked.technical_error and not still_charged:
            raise AntidoteError(f"Lead #{locked.pk} is already flagged as a technical error.")
        was_waiting = locked.billing_state in Lead.WAITING_STATES
        if was_waiting:
            locked.billing_state = Lead.Billing.FREE_TECHNICAL_ERROR
        elif still_charged:
            entry = billing.refund_lead_charge(
                lead=locked,
                idempotency_key=f"refund:technical-error:lead:{locked.pk}",
                actor=actor,
                memo=f"Technical error at the source: {reason}"[:255],
            )
            refunded = entry.credits
        locked.technical_error = True
        locked._history_user = actor
        locked._change_reason = reason
        locked.save(update_fields=["technical_error", "billing_state"])
        if was_waiting:
            _emit_lead_event(locked, "free")
            if clinic.is_active:
                release_held_leads(clinic_id=clinic.pk)  # the leads behind it move up
    logger.info("Lead #%d flagged as a technical error by %s", locked.pk, actor)
    return TechnicalErrorFlag(lead=locked, refunded_credits=refunded)


def _require_workable(lead: Lead) -> None:
    """A lead whose contact is masked (held, or a duplicate of a held one) is not worked yet:
    no status, assignment, note or archiving until it is released. One rule for every action,
    so nobody can plan around a patient the clinic has not paid for."""
    if lead.contact_masked:
        if lead.billing_state == Lead.Billing.DUPLICATE:
            raise AntidoteError(
                f"Top up to release lead #{lead.duplicate_of_id}, the patient's first enquiry, "
                "before working this one."
            )
        raise AntidoteError("Top up to release this lead before working it.")


def update_lead_status(
    *,
    lead: Lead,
    status: str,
    actor=None,
    via: str = "portal",
    booked_for: date | None = None,
    revenue_paise: int | None = None,
    lost_reason: str = "",
) -> Lead:
    """Move a lead to an outcome, and record the step (who, when, details) as a LeadEvent.

    new → contacted → booked (a date) → treated (revenue in paise, optional) or lost (a
    reason). Any step may go back; it is recorded like the others. The first step that
    reached the patient (contacted, booked or treated) sets ``first_contacted_at``, the start
    of speed to lead, which a later step back keeps. Saving what the lead already says
    records nothing.
    """
    if status not in Lead.Status.values:
        raise AntidoteError(f"{status!r} is not a lead status.")
    if status == Lead.Status.BOOKED and booked_for is None:
        raise AntidoteError("Give the appointment date to mark a lead as booked.")
    if status == Lead.Status.LOST and lost_reason not in Lead.LostReason.values:
        raise AntidoteError(
            "Choose why the lead was lost: "
            + ", ".join(label.lower() for label in Lead.LostReason.labels)
            + "."
        )
    if revenue_paise is not None and status != Lead.Status.TREATED:
        raise AntidoteError("Revenue is recorded only for a treated patient.")
    if revenue_paise is not None and not 0 <= revenue_paise <= MAX_REVENUE_PAISE:
        raise AntidoteError(f"Revenue is between ₹0 and {format_paise(MAX_REVENUE_PAISE)}.")
    if status != Lead.Status.BOOKED:
        booked_for = None
    if status != Lead.Status.LOST:
        lost_reason = ""
    _require_workable(lead)
    with transaction.atomic():
        locked = Lead.objects.select_for_update(no_key=True).get(pk=lead.pk)
        details = (locked.status, locked.booked_for, locked.revenue_paise, locked.lost_reason)
        if details == (status, booked_for, revenue_paise, lost_reason):
            return _copy_outcome(locked, lead)
        now = timezone.now()
        LeadEvent.objects.create(
            lead=locked,
            from_status=locked.status,
            to_status=status,
            actor=actor,
            actor_name=(actor.get_full_name() or actor.get_username()) if actor else "system",
            via=via,
            booked_for=booked_for,
            revenue_paise=revenue_paise,
            lost_reason=lost_reason,
            at=now,
        )
        locked.status = status
        locked.booked_for = booked_for
        locked.revenue_paise = revenue_paise
        locked.lost_reason = lost_reason
        fields = ["status", "booked_for", "revenue_paise", "lost_reason"]
        if status in Lead.REACHED and locked.first_contacted_at is None:
            locked.first_contacted_at = now
            fields.append("first_contacted_at")
        locked.save(update_fields=fields)
    return _copy_outcome(locked, lead)


# ₹10 crore: above any treatment; a typo of extra zeros is refused rather than reported as ROI.
MAX_REVENUE_PAISE = 10_000_000_000


def _copy_outcome(source: Lead, target: Lead) -> Lead:
    """The caller's lead object shows the outcome just saved (views render it)."""
    for field in ("status", "booked_for", "revenue_paise", "lost_reason", "first_contacted_at"):
        setattr(target, field, getattr(source, field))
    return target


def assign_lead(*, lead: Lead, member: ClinicMember | None) -> Lead:
    """Give a lead to a member of its own clinic, or to nobody (``member=None``)."""
    if member is not None and member.clinic_id != lead.clinic_id:
        raise AntidoteError(f"{member.user} is not a member of this clinic.")
    _require_workable(lead)
    lead.assigned_to = member
    lead.save(update_fields=["assigned_to"])
    return lead


def set_lead_archived(*, lead: Lead, archived: bool) -> Lead:
    """Archive a lead out of the default inbox, or bring it back. Billing is untouched."""
    _require_workable(lead)
    lead.archived = archived
    lead.save(update_fields=["archived"])
    return lead


def add_lead_note(*, lead: Lead, author, body: str) -> LeadNote:
    """A note by a member of the lead's clinic, for the clinic's team only."""
    if not ClinicMember.objects.filter(user=author, clinic_id=lead.clinic_id).exists():
        raise AntidoteError("Only members of this lead's clinic can add notes to it.")
    body = (body or "").strip()
    if not body:
        raise AntidoteError("Write something in the note.")
    if len(body) > LeadNote.MAX_LENGTH:
        raise AntidoteError(f"A note is at most {format_number(LeadNote.MAX_LENGTH)} characters.")
    if "\x00" in body:
        raise AntidoteError("A note cannot contain NUL characters.")
    _require_workable(lead)
    return LeadNote.objects.create(
        lead=lead,
        author=author,
        author_name=author.get_full_name() or author.get_username(),
        body=body,
    )


class BulkAction:
    STATUS = "status"
    ASSIGN = "assign"
    UNASSIGN = "unassign"
    ARCHIVE = "archive"
    UNARCHIVE = "unarchive"
    CHOICES = [
        (STATUS, "Set status"),
        (ASSIGN, "Assign to"),
        (UNASSIGN, "Unassign"),
        (ARCHIVE, "Archive"),
        (UNARCHIVE, "Unarchive"),
    ]


@dataclass(frozen=True)
class BulkResult:
    lead_id: int
    done: bool
    message: str


def bulk_update_leads(
    *,
    clinic: Clinic,
    lead_ids: list[int],
    action: str,
    status: str = "",
    member: ClinicMember | None = None,
    actor=None,
) -> list[BulkResult]:
    """Apply one action to many leads, each decided on its own; one result per lead id.

    An id that is not one of ``clinic``'s leads is refused without saying whether it exists.
    A refusal of one lead never undoes another's change: each is its own small write.
    """
    if action not in dict(BulkAction.CHOICES):
        raise AntidoteError(f"{action!r} is not a bulk action.")
    if action == BulkAction.STATUS and status not in Lead.Status.values:
        raise AntidoteError("Choose the status to set.")
    if action == BulkAction.ASSIGN and member is None:
        raise AntidoteError("Choose the team member to assign the leads to.")
    if member is not None and member.clinic_id != clinic.pk:
        raise AntidoteError(f"{member.user} is not a member of this clinic.")
    ids = list(dict.fromkeys(lead_ids))  # once each, in the order given
    leads = Lead.objects.filter(clinic=clinic, pk__in=ids).with_contact_rule().in_bulk()
    apply = {
        BulkAction.STATUS: lambda lead: update_lead_status(
            lead=lead, status=status, actor=actor, via="bulk"
        ),
        BulkAction.ASSIGN: lambda lead: assign_lead(lead=lead, member=member),
        BulkAction.UNASSIGN: lambda lead: assign_lead(lead=lead, member=None),
        BulkAction.ARCHIVE: lambda lead: set_lead_archived(lead=lead, archived=True),
        BulkAction.UNARCHIVE: lambda lead: set_lead_archived(lead=lead, archived=False),
    }[action]
    results = []
    for lead_id in ids:
        lead = leads.get(lead_id)
        if lead is None:
            results.append(BulkResult(lead_id, False, "Not one of this clinic's leads."))
            continue
        try:
            with transaction.atomic():
                apply(lead)
        except AntidoteError as refusal:
            results.append(BulkResult(lead_id, False, refusal.message))
        else:
            results.append(BulkResult(lead_id, True, "Done."))
    return results


def save_inbox_default(*, member: ClinicMember, query: str) -> InboxDefault | None:
    """Remember ``member``'s inbox filter (the inbox's query string); empty forgets it."""
    if len(query) > InboxDefault._meta.get_field("query").max_length:
        raise AntidoteError("That filter is too long to save.")
    if not query:
        InboxDefault.objects.filter(member=member).delete()
        return None
    saved, _ = InboxDefault.objects.update_or_create(member=member, defaults={"query": query})
    return saved


def _emit_lead_event(lead: Lead, event: str) -> None:
    """Tell the clinic, through the outbox, in this transaction: the email, text and webhook
    rows commit with the lead and are sent by a worker, so the patient never waits on them."""
    clinic = lead.clinic
    path = settings.SITE_URL + reverse("leads:lead-detail", args=[lead.pk])
    package = f" about {lead.package.name}" if lead.package else ""
    if event == Lead.Billing.OVER_BUDGET:
        event_type = EventType.LEAD_HELD
        subject = f"A new enquiry is waiting over your budget (lead #{lead.pk})"
        body = (
            f"{clinic.name} received an enquiry while its leads are paused or its weekly or "
            "monthly cap is reached. It is kept, not charged, and released oldest first when "
            f"the period rolls over or you raise the cap or resume.\n\nOpen it: {path}"
        )
    elif event == "held":
        event_type = EventType.LEAD_HELD
        subject = f"A new enquiry is waiting: top up to see it (lead #{lead.pk})"
        body = (
            f"{clinic.name} received an enquiry but has too few credits for it "
            f"({lead.price_credits} needed, after any older enquiries still waiting, which are "
            f"released first). It is held, not lost: top up and it is released "
            f"automatically.\n\nOpen it: {path}"
        )
    elif event == "free":
        event_type = EventType.LEAD_RELEASED
        subject = f"A waiting enquiry is yours free of charge (lead #{lead.pk})"
        body = (
            "A technical error on our side affected this enquiry, so it will never be charged. "
            f"Its contact details are now shown.\n\nOpen it: {path}"
        )
    else:
        event_type = EventType.LEAD_DELIVERED if event == "delivered" else EventType.LEAD_RELEASED
        subject = f"New enquiry for {clinic.name} (lead #{lead.pk})"
        body = (
            f"A patient enquired{package}.\n"
            f"{lead.price_credits} credits were charged.\n\nOpen it: {path}"
        )
    data = {
        "lead": {
            "id": lead.pk,
            "package": lead.package.name if lead.package else None,
            "price_credits": lead.price_credits,
            "billing_state": lead.billing_state,
            "created": int(lead.created_at.timestamp()),
            "url": path,
        }
    }
    if event not in Lead.WAITING_STATES:  # a waiting lead's contact is masked until paid for
        data["lead"].update(patient_name=lead.patient_name, phone=lead.phone, email=lead.email)
    notifications.emit(
        type=event_type,
        clinic_id=clinic.pk,
        data=data,
        subject=subject,
        text=body,
        contact_email=clinic.contact_email,
    )


# The clinic's team ------------------------------------------------------------------------------
#
# Every change locks the clinic's member rows in primary-key order, so two owners demoting or
# removing each other at the same moment are decided one after the other, and the second sees
# that it would leave the clinic without an owner. The history row of each change names the
# actor (simple-history reads ``_history_user``), in the portal and the admin alike.

LAST_OWNER = (
    "{member} is the clinic's last owner. Make another member an owner first, so the clinic "
    "always has someone who can manage its team."
)


def _locked_member(*, clinic, member_id: int) -> tuple[ClinicMember, int]:
    """The member (of this clinic only) and how many owners the clinic has, rows locked."""
    team = list(
        ClinicMember.objects.select_for_update()
        .filter(clinic=clinic)
        .select_related("user")
        .order_by("pk")
    )
    member = next((m for m in team if m.pk == member_id), None)
    if member is None:
        raise AntidoteError("No such member in this clinic.", code="not_found")
    owners = sum(1 for m in team if m.role == ClinicMember.Role.OWNER)
    return member, owners


def add_member(*, clinic, user, role: str, actor) -> ClinicMember:
    """Staff add an existing account to a clinic (clinics invite instead)."""
    if role not in ClinicMember.Role.values:
        raise AntidoteError("Choose one of the roles: owner, billing or front desk.")
    with transaction.atomic():
        if ClinicMember.objects.filter(clinic=clinic, user=user).exists():
            raise AntidoteError(f"{user} is already a member of {clinic}.", code="member")
        member = ClinicMember(clinic=clinic, user=user, role=role)
        member._history_user = actor
        try:
            with transaction.atomic():
                member.save()
        except IntegrityError:
            raise AntidoteError(f"{user} is already a member of {clinic}.", code="member") from None
    return member


def change_member_role(*, clinic, member_id: int, role: str, actor) -> ClinicMember:
    if role not in ClinicMember.Role.values:
        raise AntidoteError("Choose one of the roles: owner, billing or front desk.")
    with transaction.atomic():
        member, owners = _locked_member(clinic=clinic, member_id=member_id)
        if member.role == role:
            return member
        if member.role == ClinicMember.Role.OWNER and owners <= 1:
            raise AntidoteError(LAST_OWNER.format(member=member.user), code="last_owner")
        member.role = role
        member._history_user = actor
        member.save(update_fields=["role"])
    return member


def remove_member(*, clinic, member_id: int, actor) -> ClinicMember:
    with transaction.atomic():
        member, owners = _locked_member(clinic=clinic, member_id=member_id)
        if member.role == ClinicMember.Role.OWNER and owners <= 1:
            raise AntidoteError(LAST_OWNER.format(member=member.user), code="last_owner")
        member._history_user = actor
        member.delete()
    return member


# Invitations -----------------------------------------------------------------------------------
#
# The link is the invitation's id signed with the project's key (its own salt, so no other
# signed value of ours can stand in for it) and stamped with its time, refused after
# INVITATION_LIFETIME whatever the row says. The row decides the rest: accepted, revoked or
# expired invitations are refused, and acceptance is one conditional UPDATE, so it works once
# even when two tabs accept at the same moment.

INVITATION_LIFETIME = timedelta(days=7)
_INVITATION_SALT = "leads.invitation"
_REFUSED = {
    "accepted": "This invitation has already been used. Log in to reach the clinic.",
    "revoked": "This invitation was withdrawn. Ask the clinic's owner for a new one.",
    "expired": (
        "This invitation has expired (they last 7 days). Ask the clinic's owner for a new one."
    ),
}


def invitation_token(invitation: Invitation) -> str:
    return signing.dumps(invitation.pk, salt=_INVITATION_SALT)


def invitation_from_token(token: str) -> Invitation:
    """The invitation a link names, or a refusal a person can act on."""
    try:
        pk = signing.loads(
            token, salt=_INVITATION_SALT, max_age=INVITATION_LIFETIME.total_seconds()
        )
    except signing.SignatureExpired:
        raise AntidoteError(_REFUSED["expired"], code="expired") from None
    except signing.BadSignature:
        raise AntidoteError("This invitation link is not valid.", code="not_found") from None
    invitation = (
        Invitation.objects.select_related("clinic", "invited_by").filter(pk=pk).first()
        if isinstance(pk, int)
        else None
    )
    if invitation is None:
        raise AntidoteError("This invitation link is not valid.", code="not_found")
    if invitation.state != "open":
        raise AntidoteError(_REFUSED[invitation.state], code=invitation.state)
    return invitation


def invite_member(*, clinic, email: str, role: str, actor) -> Invitation:
    """Invite an address with a role; the email leaves after commit."""
    email = email.strip().lower()
    if role not in ClinicMember.Role.values:
        raise AntidoteError("Choose one of the roles: owner, billing or front desk.")
    with transaction.atomic():
        if ClinicMember.objects.filter(clinic=clinic, user__email__iexact=email).exists():
            raise AntidoteError(f"{email} is already a member of {clinic}.", code="member")
        # A new invitation replaces the address's open one: its old link stops working.
        for previous in Invitation.objects.select_for_update().filter(
            clinic=clinic, email=email, accepted_at__isnull=True, revoked_at__isnull=True
        ):
            previous.revoked_at = timezone.now()
            previous._history_user = actor
            previous.save(update_fields=["revoked_at"])
        invitation = Invitation(
            clinic=clinic,
            email=email,
            role=role,
            invited_by=actor,
            expires_at=timezone.now() + INVITATION_LIFETIME,
        )
        invitation._history_user = actor
        try:
            with transaction.atomic():
                invitation.save()
        except IntegrityError:  # another owner invited the same address at the same moment
            raise AntidoteError(
                f"{email} was invited a moment ago; reload the team page.", code="conflict"
            ) from None
        _emit_invitation(invitation)
    return invitation


def revoke_invitation(*, clinic, invitation_id: int, actor) -> Invitation:
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update().filter(clinic=clinic, pk=invitation_id).first()
        )
        if invitation is None:
            raise AntidoteError("No such invitation in this clinic.", code="not_found")
        if invitation.accepted_at or invitation.revoked_at:
            raise AntidoteError(_REFUSED[invitation.state], code=invitation.state)
        invitation.revoked_at = timezone.now()
        invitation._history_user = actor
        invitation.save(update_fields=["revoked_at"])
    return invitation


def accept_invitation(*, invitation: Invitation, user) -> ClinicMember:
    """Join the clinic as the invited account. Only the account with the invited address may
    accept, and the invitation works once (the conditional update below)."""
    if (user.email or "").strip().lower() != invitation.email:
        raise AntidoteError(
            f"This invitation is for {invitation.email}, and you are logged in as "
            f"{user.get_username()}. Log out, then open the link again and log in as the "
            f"invited account (or create it).",
            code="wrong_account",
        )
    now = timezone.now()
    with transaction.atomic():
        taken = Invitation.objects.filter(
            pk=invitation.pk,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=now,
        ).update(accepted_at=now, accepted_by=user)
        if taken != 1:
            invitation.refresh_from_db()
            raise AntidoteError(_REFUSED[invitation.state], code=invitation.state)
        if ClinicMember.objects.filter(clinic=invitation.clinic, user=user).exists():
            raise AntidoteError(f"You are already a member of {invitation.clinic}.", code="member")
        member = ClinicMember(clinic=invitation.clinic, user=user, role=invitation.role)
        member._history_user = invitation.invited_by
        member._change_reason = f"accepted invitation #{invitation.pk}"
        member.save()
    return member


def create_account_and_accept(*, invitation: Invitation, username: str, password: str):
    """A new account for the invited address, joined to the clinic in the same transaction."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                user = get_user_model().objects.create_user(
                    username=username, email=invitation.email, password=password
                )
        except IntegrityError:
            raise AntidoteError(
                "That username is taken; choose another.", code="username_taken"
            ) from None
        accept_invitation(invitation=invitation, user=user)
    return user


def _emit_invitation(invitation: Invitation) -> None:
    """The invitation email goes through the outbox, so it leaves after commit, is retried if the
    mail server is down, and never holds up the owner's request."""
    link = settings.SITE_URL + reverse(
        "leads:accept-invitation", args=[invitation_token(invitation)]
    )
    inviter = invitation.invited_by.get_username() if invitation.invited_by else "Antidote"
    notifications.emit(
        type=EventType.TEAM_INVITED,
        clinic_id=invitation.clinic_id,
        data={"invitation": {"id": invitation.pk, "role": invitation.role}},
        subject=f"Join {invitation.clinic.name} on Antidote",
        text=(
            f"{inviter} invited you to {invitation.clinic.name}'s team on Antidote as "
            f"{invitation.get_role_display().lower()}.\n\nAccept within 7 days: {link}\n\n"
            "If you did not expect this, ignore this email."
        ),
        to=[invitation.email],
    )
