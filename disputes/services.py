"""Opening, cancelling and deciding disputes; refunds go through billing, exactly once."""

import logging
import re
import unicodedata
from datetime import date, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from antidote.errors import AntidoteError
from antidote.logs import log_event
from billing import services as billing
from billing.models import IST
from billing.selectors import lead_net_charged
from disputes.models import Dispute, DisputeEvent, Evidence, QualityDay
from leads.models import Lead
from leads.selectors import duplicate_original
from notifications import services as notifications
from notifications.models import EventType

logger = logging.getLogger(__name__)

# What a file must start with to be the type it claims (never trust the name alone).
_SIGNATURES = {
    b"%PDF-": "application/pdf",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}
# Markup a browser would run if it ever rendered the file as a page: an image or PDF that also
# parses as HTML or SVG (a polyglot) is refused, whatever else it is. Evidence is always served
# as a sandboxed attachment too; this keeps such files out of staff's downloads altogether.
_MARKUP = re.compile(rb"<\s*(html|script|svg|iframe|object|embed|body|!doctype)", re.I)
# PDF names for code and for actions that run when the file is opened. ``#xx`` escapes in a
# name are decoded first (``/J#61vaScript`` is ``/JavaScript`` to a reader). Names hidden in
# compressed object streams are not seen; the sandboxed attachment is the backstop for those.
_PDF_ACTIVE = re.compile(rb"/(JavaScript|JS|OpenAction|Launch|AA|EmbeddedFiles?|RichMedia|XFA)\b")
_PDF_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")


def sniff_content_type(upload) -> str | None:
    head = upload.read(16)
    upload.seek(0)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in _SIGNATURES.items() if head.startswith(magic)), None)


def _read_all(upload) -> bytes:
    upload.seek(0)
    content = b"".join(upload.chunks())
    upload.seek(0)
    return content


def _refuse_active_content(upload, kind: str) -> None:
    content, name = _read_all(upload), display_name(upload.name)
    if _MARKUP.search(content):
        raise AntidoteError(
            f"{name} contains HTML or script as well as the {kind.split('/')[1].upper()} data; "
            "upload a plain screenshot or a PDF saved again from a viewer."
        )
    if kind == "application/pdf":
        names = _PDF_NAME_ESCAPE.sub(lambda m: bytes([int(m[1], 16)]), content)
        if _PDF_ACTIVE.search(names):
            raise AntidoteError(
                f"{name} runs scripts or actions when opened, so it cannot be accepted; print it "
                "to a new PDF or attach a screenshot instead."
            )


def display_name(name: str) -> str:
    """The uploaded name, fit to show: no folders, no control characters, not too long."""
    name = re.split(r"[/\\]", name or "")[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    return name[:100] or "evidence"


def dispute_deadline(lead: Lead):
    delivered = lead.charged_at or lead.created_at
    return delivered + timedelta(days=settings.DISPUTE_WINDOW_DAYS)


def check_disputable(lead: Lead) -> None:
    """Why this lead cannot be disputed, as a clear error; silent if it can."""
    if lead.billing_state != Lead.Billing.CHARGED:
        state = {
            Lead.Billing.HELD: "held and not yet charged",
            Lead.Billing.OVER_BUDGET: "waiting over the clinic's budget and not yet charged",
            Lead.Billing.FREE_TECHNICAL_ERROR: "free of charge (a technical error at the source)",
        }.get(lead.billing_state, "a duplicate and was never charged")
        raise AntidoteError(f"Lead #{lead.pk} is {state}, so there is nothing to dispute.")
    if lead.technical_error and not lead_net_charged(lead=lead):
        raise AntidoteError(
            f"Lead #{lead.pk} was flagged as a technical error at the source and its charge "
            "refunded; there is nothing to dispute."
        )
    if timezone.now() > dispute_deadline(lead):
        raise AntidoteError(
            f"Lead #{lead.pk} can no longer be disputed: the {settings.DISPUTE_WINDOW_DAYS}-day "
            f"window closed on {timezone.localtime(dispute_deadline(lead)):%d %b %Y}."
        )
    live = lead.disputes.exclude(status=Dispute.Status.CANCELLED).first()
    if live is not None:
        state = live.get_status_display().lower()
        raise AntidoteError(f"Lead #{lead.pk} already has a dispute (#{live.pk}, {state}).")


def _validate_evidence(files) -> list[tuple]:
    if len(files) > settings.DISPUTE_EVIDENCE_MAX_FILES:
        raise AntidoteError(f"Attach at most {settings.DISPUTE_EVIDENCE_MAX_FILES} files.")
    checked = []
    for upload in files:
        name = display_name(upload.name)
        if upload.size > settings.DISPUTE_EVIDENCE_MAX_BYTES:
            limit = settings.DISPUTE_EVIDENCE_MAX_BYTES // (1024 * 1024)
            raise AntidoteError(f"{name} is larger than {limit} MB.")
        kind = sniff_content_type(upload)
        if kind is None:
            raise AntidoteError(f"{name} is not an image (PNG, JPEG, GIF, WebP) or a PDF.")
        _refuse_active_content(upload, kind)
        checked.append((upload, kind))
    return checked


def _record(dispute, action, actor=None, notes=""):
    DisputeEvent.objects.create(dispute=dispute, action=action, actor=actor, notes=notes)


def open_dispute(*, lead: Lead, user, dispute_type: str, description: str, evidence=()) -> Dispute:
    if dispute_type not in Dispute.Type.values:
        raise AntidoteError("Choose what is wrong with the lead.")
    description = (description or "").strip()
    if len(description) < settings.DISPUTE_MIN_DESCRIPTION:
        raise AntidoteError(
            f"Describe the problem in at least {settings.DISPUTE_MIN_DESCRIPTION} characters."
        )
    files = _validate_evidence(list(evidence))
    with transaction.atomic():
        lead = Lead.objects.select_for_update(no_key=True).get(pk=lead.pk)  # see leads.services
        check_disputable(lead)
        try:
            with transaction.atomic():
                dispute = Dispute.objects.create(
                    lead=lead,
                    clinic_id=lead.clinic_id,
                    opened_by=user,
                    dispute_type=dispute_type,
                    description=description,
                )
        except IntegrityError as error:
            raise AntidoteError(f"Lead #{lead.pk} already has a dispute.") from error
        for upload, kind in files:
            Evidence.objects.create(
                dispute=dispute,
                file=upload,
                original_name=display_name(upload.name),
                content_type=kind,
                size=upload.size,
            )
        _record(dispute, "opened", user, description)
        log_event(
            logger,
            "dispute.opened",
            dispute=dispute.pk,
            lead=lead.pk,
            clinic=lead.clinic_id,
            type=dispute_type,
            evidence_files=len(files),
        )
        notifications.emit(
            type=EventType.DISPUTE_OPENED,
            clinic_id=dispute.clinic_id,
            data=_dispute_data(dispute),
            subject=f"Dispute #{dispute.pk} opened about lead #{dispute.lead_id}",
            text=f"A dispute was opened about lead #{dispute.lead_id}: {dispute.description}",
            contact_email=dispute.clinic.contact_email,
        )
        reason = _automatic_approval_reason(dispute)
        if reason:
            approve_dispute(dispute=dispute, actor=None, notes=reason, automatic=True)
            dispute.refresh_from_db()
        # Pending or approved, it stands. Counted last, after the account an automatic
        # refund locked: counter rows come last on every path (see leads.services).
        count_quality(lead=lead, standing_disputes=1)
    return dispute


def _automatic_approval_reason(dispute: Dispute) -> str:
    """What the system itself can prove, so no one needs to review it."""
    if not settings.DISPUTE_AUTO_APPROVE:
        return ""
    lead = dispute.lead
    if lead.technical_error:
        return "Automatic: staff marked this lead as a technical error at the source."
    if dispute.dispute_type == Dispute.Type.DUPLICATE:
        earlier = duplicate_original(clinic_id=lead.clinic_id, phone=lead.phone, before=lead)
        if earlier is not None:
            return f"Automatic: the same patient enquired earlier as lead #{earlier.pk}."
    return ""


def _decide(dispute: Dispute) -> Dispute:
    """Lock the dispute; refuse if it is no longer pending (two reviewers, one decision)."""
    locked = Dispute.objects.select_for_update().select_related("lead").get(pk=dispute.pk)
    if locked.status != Dispute.Status.PENDING:
        raise AntidoteError(
            f"Dispute #{locked.pk} is already {locked.get_status_display().lower()}; it cannot be "
            "decided again."
        )
    return locked


def approve_dispute(
    *, dispute: Dispute, actor, refund_credits: int | None = None, notes: str = "", automatic=False
) -> Dispute:
    """Approve and refund through billing: all of the charge, or part of it."""
    with transaction.atomic():
        locked = _decide(dispute)
        entry = billing.refund_lead_charge(
            lead=locked.lead,
            credits=refund_credits,
            idempotency_key=f"refund:dispute:{locked.pk}",
            actor=actor,
            memo=f"Dispute #{locked.pk} approved",
        )
        locked.status = Dispute.Status.APPROVED
        locked.refund_credits = entry.credits
        locked.refund_entry_id = entry.pk
        locked.admin_notes = notes
        locked.auto_reason = notes if automatic else ""
        locked.decided_by = actor
        locked.decided_at = timezone.now()
        locked.save()
        _record(locked, "approved", actor, f"Refunded {entry.credits} credits. {notes}".strip())
        log_event(
            logger,
            "dispute.approved",
            dispute=locked.pk,
            clinic=locked.clinic_id,
            refund_credits=entry.credits,
            automatic=automatic,
            actor=getattr(actor, "pk", None),
        )
        _emit_decision(locked)
    return locked


def reject_dispute(*, dispute: Dispute, actor, notes: str) -> Dispute:
    notes = (notes or "").strip()
    if not notes:
        raise AntidoteError("Say why the dispute is rejected; the clinic will read it.")
    with transaction.atomic():
        locked = _decide(dispute)
        locked.status = Dispute.Status.REJECTED
        locked.admin_notes = notes
        locked.decided_by = actor
        locked.decided_at = timezone.now()
        locked.save()
        count_quality(lead=locked.lead, standing_disputes=-1)  # a rejected one means a good lead
        _record(locked, "rejected", actor, notes)
        log_event(
            logger,
            "dispute.rejected",
            dispute=locked.pk,
            clinic=locked.clinic_id,
            actor=getattr(actor, "pk", None),
        )
        _emit_decision(locked)
    return locked


def cancel_dispute(*, dispute: Dispute, user) -> Dispute:
    with transaction.atomic():
        locked = Dispute.objects.select_for_update().select_related("lead").get(pk=dispute.pk)
        if locked.status != Dispute.Status.PENDING:
            raise AntidoteError("Only a pending dispute can be cancelled.")
        locked.status = Dispute.Status.CANCELLED
        locked.save(update_fields=["status"])
        count_quality(lead=locked.lead, standing_disputes=-1)
        _record(locked, "cancelled", user)
    return locked


def _dispute_data(dispute: Dispute) -> dict:
    return {
        "dispute": {
            "id": dispute.pk,
            "lead": dispute.lead_id,
            "type": dispute.dispute_type,
            "status": dispute.status,
            "refund_credits": dispute.refund_credits or 0,
            "admin_notes": dispute.admin_notes,
        }
    }


def _emit_decision(dispute: Dispute) -> None:
    """Tell the clinic through the outbox, in the decision's transaction: a mail server that
    fails never undoes, fails or slows the decision."""
    clinic = dispute.clinic
    if dispute.status == Dispute.Status.APPROVED:
        outcome = f"approved: {dispute.refund_credits} credits were refunded to your balance"
    else:
        outcome = "rejected"
    body = f"Your dispute #{dispute.pk} about lead #{dispute.lead_id} was {outcome}."
    if dispute.admin_notes:
        body += f"\n\nNotes from Antidote: {dispute.admin_notes}"
    notifications.emit(
        type=EventType.DISPUTE_DECIDED,
        clinic_id=clinic.pk,
        data=_dispute_data(dispute),
        subject=f"Dispute #{dispute.pk} {dispute.get_status_display().split(':')[0].lower()}",
        text=body + f"\n\n{settings.SITE_URL}/clinic/disputes",
        contact_email=clinic.contact_email,
    )


# The quality score's counters (QualityDay) ----------------------------------------------------

# Disputes that stand: pending or approved. A rejected one means the lead was good, a
# cancelled one was withdrawn.
STANDING = (Dispute.Status.PENDING, Dispute.Status.APPROVED)


def quality_day(moment) -> date:
    """The IST day a lead arrived on: the counters' and the score window's unit."""
    return moment.astimezone(IST).date()


def count_quality(*, lead: Lead, charged_leads: int = 0, standing_disputes: int = 0) -> None:
    """Add to the counts of the lead's (clinic, IST day, package), in the caller's transaction.

    An UPDATE of the row, or an INSERT when it is the bucket's first; two first writers race
    on the unique constraint, and the loser adds to the winner's row. The row stays locked
    until the caller commits, so every path takes it last (see leads.services' lock order).
    """
    bucket = {
        "clinic_id": lead.clinic_id,
        "day": quality_day(lead.created_at),
        "package_key": lead.package_id or 0,
    }
    changes = {
        "charged_leads": F("charged_leads") + charged_leads,
        "standing_disputes": F("standing_disputes") + standing_disputes,
    }
    if QualityDay.objects.filter(**bucket).update(**changes):
        return
    try:
        with transaction.atomic():
            QualityDay.objects.create(
                **bucket,
                package_id=lead.package_id,
                charged_leads=charged_leads,
                standing_disputes=standing_disputes,
            )
    except IntegrityError:
        QualityDay.objects.filter(**bucket).update(**changes)


def count_charged_lead(*, lead: Lead) -> None:
    count_quality(lead=lead, charged_leads=1)


def rebuild_quality_days(*, clinic_ids=None) -> None:
    """Recount the counters from the leads and their disputes (the migration's backfill does
    the same): for rows written behind the services' back, as the benchmarks' fixtures do.
    Run it while the clinics take no leads and no disputes."""
    with transaction.atomic():
        counters = QualityDay.objects.all()
        leads = Lead.objects.filter(billing_state=Lead.Billing.CHARGED)
        if clinic_ids is not None:
            counters = counters.filter(clinic_id__in=clinic_ids)
            leads = leads.filter(clinic_id__in=clinic_ids)
        counters.delete()
        buckets = (
            leads.annotate(day=TruncDate("created_at", tzinfo=IST))
            .values("clinic_id", "day", "package_id")
            .annotate(
                leads=Count("id", distinct=True),
                disputes=Count("disputes", filter=Q(disputes__status__in=STANDING), distinct=True),
            )
            .order_by()
        )
        QualityDay.objects.bulk_create(
            (
                QualityDay(
                    clinic_id=row["clinic_id"],
                    day=row["day"],
                    package_id=row["package_id"],
                    package_key=row["package_id"] or 0,
                    charged_leads=row["leads"],
                    standing_disputes=row["disputes"],
                )
                for row in buckets.iterator()
            ),
            batch_size=1000,
        )
