"""Clinics' claims against charged leads, their evidence, and the trail of every decision.

A refund reaches the ledger only through ``billing.services.refund_lead_charge`` with the key
``refund:dispute:<id>``, so a dispute refunds at most once.
"""

import uuid

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.db.models import Q
from django.utils import timezone


class PrivateStorage(FileSystemStorage):
    """Files with no URL at all: a view streams them after checking who is asking."""

    def url(self, name):
        raise ValueError("Evidence has no public URL; it is served by disputes:evidence.")


def evidence_storage():
    # A callable, so migrations record the reference and not this machine's path.
    return PrivateStorage(location=settings.PRIVATE_MEDIA_ROOT)


# The extension a stored file gets comes from the type its bytes were checked to be.
EVIDENCE_EXTENSIONS = {
    "application/pdf": "pdf",
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
}


def evidence_path(instance, filename):
    """A name we make up: the uploaded name never reaches the disk or a response header."""
    extension = EVIDENCE_EXTENSIONS[instance.content_type]
    return f"dispute-evidence/{timezone.now():%Y/%m}/{uuid.uuid4().hex}.{extension}"


class Dispute(models.Model):
    class Type(models.TextChoices):
        INVALID_CONTACT = "invalid_contact", "Invalid contact details"
        DUPLICATE = "duplicate", "Duplicate lead"
        POOR_QUALITY = "poor_quality", "Poor quality / not a real enquiry"
        TECHNICAL_ERROR = "technical_error", "Technical error"
        SPAM = "spam", "Spam or fake"
        OUTSIDE_AREA = "outside_area", "Outside our service area"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending review"
        APPROVED = "approved", "Approved: refunded"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled by clinic"

    lead = models.ForeignKey("leads.Lead", on_delete=models.PROTECT, related_name="disputes")
    clinic = models.ForeignKey("leads.Clinic", on_delete=models.PROTECT, related_name="disputes")
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    dispute_type = models.CharField(max_length=20, choices=Type.choices)
    description = models.TextField()
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    refund_credits = models.PositiveIntegerField(null=True, blank=True)
    refund_entry = models.OneToOneField(
        "billing.CreditTransaction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    admin_notes = models.TextField(blank=True)
    auto_reason = models.CharField(max_length=200, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("decide_dispute", "Can approve or reject disputes")]
        constraints = [
            # One open or decided dispute per lead; a cancelled one leaves room for another.
            models.UniqueConstraint(
                fields=["lead"], condition=~Q(status="cancelled"), name="one_live_dispute_per_lead"
            ),
            models.CheckConstraint(
                condition=~Q(status="approved") | Q(refund_credits__gt=0),
                name="approved_dispute_has_refund",
            ),
        ]

    def __str__(self):
        return f"Dispute #{self.pk} on lead #{self.lead_id} ({self.get_status_display()})"


class Evidence(models.Model):
    dispute = models.ForeignKey(Dispute, on_delete=models.PROTECT, related_name="evidence")
    file = models.FileField(storage=evidence_storage, upload_to=evidence_path)
    # Only shown to staff (escaped); control characters and folders are removed on upload.
    original_name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=60)
    size = models.PositiveIntegerField()
    uploaded_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.original_name

    @property
    def download_name(self) -> str:
        """``dispute-<id>-<n>.<ext>``: the dispute, this file's place among its files (1, 2, …),
        and the type we detected; never the uploader's name."""
        extension = EVIDENCE_EXTENSIONS.get(self.content_type, "bin")
        place = Evidence.objects.filter(dispute_id=self.dispute_id, pk__lte=self.pk).count()
        return f"dispute-{self.dispute_id}-{place}.{extension}"


class DisputeEvent(models.Model):
    """Audit trail: every state change, who made it, and their notes."""

    dispute = models.ForeignKey(Dispute, on_delete=models.PROTECT, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=20)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.action} by {self.actor or 'system'}"


class QualityDay(models.Model):
    """The quality score's counts for one clinic, IST day of arrival and package: its charged
    leads, and how many of them have a dispute that stands (pending or approved).

    Derived data, kept in the same transaction as each change it counts, so the score sums at
    most a window's days (times the clinic's packages) instead of counting every lead:
    a lead charged (``leads.signals.lead_charged``, from the one place that charges a lead), a
    dispute opened, and a pending one rejected or cancelled. Nothing else moves a count: a
    charged lead stays charged (a refund, by a dispute or a technical-error flag, leaves its
    billing state), an approved dispute still stands, and a lead's clinic, package and arrival
    never change. ``disputes.services.rebuild_quality_days`` recounts from the leads for rows
    written behind the services' back; a test compares the counts with the direct count after
    random operations.
    """

    clinic = models.ForeignKey("leads.Clinic", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()  # the lead's arrival, in IST
    package = models.ForeignKey(
        "leads.Package", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    package_key = models.PositiveBigIntegerField(default=0)  # the package's id, 0 for none
    charged_leads = models.IntegerField(default=0)
    standing_disputes = models.IntegerField(default=0)

    class Meta:
        constraints = [
            # One row per bucket; package_key and not package, as NULLs are never equal.
            models.UniqueConstraint(
                fields=["clinic", "day", "package_key"], name="one_quality_row_per_bucket"
            )
        ]

    def __str__(self):
        return f"{self.clinic_id} {self.day:%Y-%m-%d} {self.package_key or '—'}"
