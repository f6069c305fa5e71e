"""Clinics, their members and packages, and the leads patients send them."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords


class Organisation(models.Model):
    """A clinic chain: locations (clinics) that belong together.

    For now each location keeps its own balance, and the chain's owners move credits between
    its locations (``billing.services.transfer_credits``). A shared pool is still to come.
    """

    name = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def owned_by(self, user) -> bool:
        return user.is_authenticated and self.members.filter(user=user, role="owner").exists()


class OrganisationMember(models.Model):
    """An owner of a chain: sees every location and moves credits between them."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="organisation_memberships"
    )
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="members")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.OWNER)

    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organisation"], name="one_membership_per_user_organisation"
            ),
            models.CheckConstraint(condition=Q(role="owner"), name="organisation_role_known"),
        ]

    def __str__(self):
        return f"{self.user} @ {self.organisation} ({self.role})"


class Clinic(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    city = models.CharField(max_length=100)
    contact_email = models.EmailField()
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="clinics",
        help_text="The chain this clinic is a location of, if any.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class ClinicMember(models.Model):
    """A user's place in a clinic's team. What each role may open is antidote.portal's map."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        BILLING = "billing", "Billing"
        FRONT_DESK = "front_desk", "Front desk"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="clinic_memberships"
    )
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="members")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.FRONT_DESK)

    # Who changed a role or removed a member, and when (the team page and the admin alike).
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "clinic"], name="one_membership_per_user_clinic"
            ),
            models.CheckConstraint(
                condition=Q(role__in=["owner", "billing", "front_desk"]), name="member_role_known"
            ),
        ]

    def __str__(self):
        return f"{self.user} @ {self.clinic} ({self.role})"


class Invitation(models.Model):
    """An owner's invitation to join the clinic's team with a role, by email.

    The link carries the row's id signed with the project's key (``leads.services``); it works
    until ``expires_at`` and only once: accepting sets ``accepted_at`` by a conditional update,
    so two tabs accepting at once cannot both join. Re-inviting an address revokes the open
    invitation it had, so one address has at most one open invitation per clinic.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(help_text="Stored lower-cased.")
    role = models.CharField(max_length=10, choices=ClinicMember.Role.choices)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "email"],
                condition=Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="one_open_invitation_per_clinic_email",
                violation_error_message=(
                    "This address already has an open invitation to this clinic; withdraw it "
                    "first, or invite from the clinic's team page, which replaces it."
                ),
            ),
            models.CheckConstraint(
                condition=Q(role__in=["owner", "billing", "front_desk"]),
                name="invitation_role_known",
            ),
            models.CheckConstraint(
                condition=Q(accepted_at__isnull=True) | Q(revoked_at__isnull=True),
                name="invitation_accepted_or_revoked_not_both",
            ),
        ]

    def __str__(self):
        return f"{self.email} → {self.clinic} ({self.get_role_display()})"

    @property
    def state(self) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "open"


class Package(models.Model):
    """A clinic's priced treatment offer; its price decides what a lead costs."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="packages")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    price_paise = models.PositiveBigIntegerField(help_text="Price in paise (₹1 = 100 paise).")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["clinic__name", "price_paise"]

    def __str__(self):
        return f"{self.name} ({self.clinic})"


# The one masking rule: a patient's contact is visible only once a clinic paid for it, on the
# lead itself or on the original that a duplicate repeats, or once staff let the lead go free
# (or the original) as a technical error at the source. A held lead, and any duplicate of it,
# shows nothing identifying and cannot be found by name, phone or email.
CONTACT_SHOWN_STATES = ("charged", "free_tech_error")
CONTACT_PAID_FOR = Q(billing_state__in=CONTACT_SHOWN_STATES) | Q(
    billing_state="duplicate", duplicate_of__billing_state__in=CONTACT_SHOWN_STATES
)


class LeadQuerySet(models.QuerySet):
    def with_contact_rule(self):
        """Fetch what ``Lead.contact_masked`` needs in the same query."""
        return self.annotate(
            original_billing_state=models.F("duplicate_of__billing_state"),
        )


class Lead(models.Model):
    """A patient's enquiry. Its price is snapshotted when it is received."""

    class Status(models.TextChoices):
        NEW = "new", "New"
        CONTACTED = "contacted", "Contacted"
        BOOKED = "booked", "Appointment booked"
        TREATED = "treated", "Treated"
        LOST = "lost", "Lost"

    class LostReason(models.TextChoices):
        UNREACHABLE = "unreachable", "Unreachable"
        PRICE = "price", "Price"
        OTHER_CLINIC = "other_clinic", "Chose another clinic"
        NOT_SUITABLE = "not_suitable", "Not suitable"
        OTHER = "other", "Other"

    # The statuses that mean the clinic reached the patient (speed to lead starts at the first).
    REACHED = (Status.CONTACTED, Status.BOOKED, Status.TREATED)

    class Billing(models.TextChoices):
        CHARGED = "charged", "Charged"
        HELD = "held", "Held: waiting for credits"
        OVER_BUDGET = "over_budget", "Over budget: waiting for the clinic's cap or pause"
        DUPLICATE = "duplicate", "Duplicate: not charged"
        FREE_TECHNICAL_ERROR = "free_tech_error", "Free: technical error"

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="leads")
    package = models.ForeignKey(
        Package, on_delete=models.PROTECT, null=True, blank=True, related_name="leads"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.NEW)
    billing_state = models.CharField(
        max_length=20, choices=Billing.choices, default=Billing.HELD, db_index=True
    )
    patient_name = models.CharField(max_length=120, blank=True)
    phone = models.CharField(max_length=16, blank=True, help_text="Normalised to +91XXXXXXXXXX.")
    email = models.EmailField(blank=True)
    message = models.TextField(blank=True)
    # Price snapshot, taken when the lead arrives; later tier or package edits never change it.
    package_price_paise = models.PositiveBigIntegerField(null=True, blank=True)
    tier_min_price_paise = models.PositiveBigIntegerField(default=0)
    price_credits = models.PositiveIntegerField()
    duplicate_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="duplicates"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    charged_at = models.DateTimeField(null=True, blank=True)
    technical_error = models.BooleanField(
        default=False,
        editable=False,
        help_text="Flagged by staff: broken at the source, so never charged.",
    )
    # The clinic's own workflow: who is on it, and whether it left the inbox. Neither touches
    # billing; a membership removed leaves its leads unassigned.
    assigned_to = models.ForeignKey(
        ClinicMember,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_leads",
    )
    archived = models.BooleanField(default=False, db_index=True)
    # The outcome (``leads.services.record_outcome`` is the only writer; each step is a
    # LeadEvent). The details of a step stay with the step: a lead moved back from "treated"
    # keeps no revenue.
    booked_for = models.DateField(null=True, blank=True)
    revenue_paise = models.PositiveBigIntegerField(null=True, blank=True)
    lost_reason = models.CharField(max_length=20, choices=LostReason.choices, blank=True)
    # Speed to lead: the first time the clinic reached the patient, kept when moved back.
    first_contacted_at = models.DateTimeField(null=True, blank=True)

    objects = LeadQuerySet.as_manager()
    # Who changed a lead's state and why (a flag's reason). The patient's details stay out of
    # the history: they are not state, and a copy is one more place to protect.
    history = HistoricalRecords(
        excluded_fields=["patient_name", "phone", "email", "message"],
        history_change_reason_field=models.TextField(null=True),
    )

    # The states of a lead waiting in its clinic's queue to be charged: held for credits (a
    # clinic in debt has its leads held too), or over the clinic's own budget (a cap or a
    # pause). One queue per clinic, strictly oldest first, whatever each lead waits for.
    WAITING_STATES = (Billing.HELD, Billing.OVER_BUDGET)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["clinic", "phone", "created_at"]),
            models.Index(fields=["clinic", "first_contacted_at"], name="lead_clinic_contacted"),
            # The dashboard's waiting leads and the inbox's state filter, one clinic's only.
            models.Index(fields=["clinic", "billing_state"], name="lead_clinic_billing_state"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(price_credits__gt=0), name="lead_price_positive"),
            models.CheckConstraint(
                condition=Q(billing_state="duplicate") | Q(duplicate_of__isnull=True),
                name="only_duplicates_point_at_original",
            ),
            # A flagged lead never waits to be charged, and only a flagged lead goes free.
            models.CheckConstraint(
                condition=Q(technical_error=False) | ~Q(billing_state__in=["held", "over_budget"]),
                name="flagged_lead_never_waits",
            ),
            models.CheckConstraint(
                condition=Q(technical_error=True) | ~Q(billing_state="free_tech_error"),
                name="only_flagged_leads_go_free",
            ),
            models.CheckConstraint(
                condition=Q(booked_for__isnull=True) | Q(status="booked"),
                name="lead_booking_date_only_when_booked",
                # Not "booked needs a date": leads booked or lost before outcomes had details
                # keep their status; the service asks every new step for its details.
            ),
            models.CheckConstraint(
                condition=Q(revenue_paise__isnull=True) | Q(status="treated"),
                name="lead_revenue_only_when_treated",
            ),
            models.CheckConstraint(
                condition=Q(lost_reason="") | Q(status="lost"),
                name="lead_lost_reason_only_when_lost",
            ),
        ]
        permissions = [
            ("flag_technical_error", "Can flag a lead as a technical error at the source")
        ]

    def __str__(self):
        return f"Lead #{self.pk} for {self.clinic}"

    @property
    def contact_masked(self) -> bool:
        """True until the contact was paid for (see ``CONTACT_PAID_FOR``)."""
        if self.billing_state in CONTACT_SHOWN_STATES:
            return False
        if self.billing_state != self.Billing.DUPLICATE or self.duplicate_of_id is None:
            return True
        if hasattr(self, "original_billing_state"):
            return self.original_billing_state not in CONTACT_SHOWN_STATES
        return self.duplicate_of.billing_state not in CONTACT_SHOWN_STATES

    @property
    def live_dispute(self):
        """The lead's dispute that still stands (pending, approved or rejected), or None.

        A clinic may open a new dispute only after cancelling the last, so at most one stands.
        Reads ``disputes`` (the disputes app's reverse relation; prefetch it for a list).
        """
        standing = [d for d in self.disputes.all() if d.status != "cancelled"]
        return max(standing, key=lambda d: d.pk, default=None)


class LeadNote(models.Model):
    """A clinic member's note on a lead: for the clinic's team only, never for the patient."""

    MAX_LENGTH = 2000

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="notes")
    # The author may leave the clinic later; the note stays, with the name it was written under.
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    author_name = models.CharField(max_length=150)
    body = models.TextField(max_length=MAX_LENGTH)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(body=""), name="lead_note_not_empty"),
        ]

    def __str__(self):
        return f"Note #{self.pk} on lead #{self.lead_id}"


class InboxDefault(models.Model):
    """A member's saved inbox filter, used when they open the inbox without one.

    Kept per membership, not per user: a package filter names one clinic's package.
    The query is stored as the inbox's own query string and parsed by its form on every use,
    so a saved filter that no longer fits (a package retired) is simply not applied.
    """

    member = models.OneToOneField(
        ClinicMember, on_delete=models.CASCADE, related_name="inbox_default"
    )
    query = models.CharField(max_length=1000)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Inbox default of {self.member}: {self.query}"


class LeadEvent(models.Model):
    """One step of a lead's outcome: who moved it to which status, when, with what details.

    Written only by ``leads.services.record_outcome``, never changed: a step back is a new
    event. The timeline on the lead page lists them.
    """

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=12, choices=Lead.Status.choices, blank=True)
    to_status = models.CharField(max_length=12, choices=Lead.Status.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    actor_name = models.CharField(max_length=150)
    via = models.CharField(max_length=10, default="portal")  # portal, bulk, api, migration
    booked_for = models.DateField(null=True, blank=True)
    revenue_paise = models.PositiveBigIntegerField(null=True, blank=True)
    lost_reason = models.CharField(max_length=20, choices=Lead.LostReason.choices, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["lead", "at"], name="lead_event_lead_at")]

    def __str__(self):
        return f"Lead #{self.lead_id}: {self.from_status or '—'} → {self.to_status}"


class OutcomeMonth(models.Model):
    """Pre-aggregated outcomes per clinic, month (IST, by the lead's arrival), package and
    price tier: what the analytics page and the staff report read instead of every lead.

    Derived data, never edited by hand: ``leads.analytics.refresh_outcome_months`` rebuilds
    the buckets that an ``OutcomeDirty`` row names, from the leads, their disputes and the
    ledger, before anything reads them. A test compares it with the direct computation after
    random operations.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    month = models.DateField()  # the first day of the month
    package = models.ForeignKey(
        Package, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    package_key = models.PositiveBigIntegerField(default=0)  # the package's id, 0 for none
    package_name = models.CharField(max_length=200, blank=True)
    tier_min_price_paise = models.PositiveBigIntegerField()
    leads = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    held = models.PositiveIntegerField(default=0)
    charged = models.PositiveIntegerField(default=0)
    contacted = models.PositiveIntegerField(default=0)
    booked = models.PositiveIntegerField(default=0)
    treated = models.PositiveIntegerField(default=0)
    lost = models.PositiveIntegerField(default=0)
    revenue_paise = models.PositiveBigIntegerField(default=0)
    credits_charged = models.PositiveBigIntegerField(default=0)
    credits_refunded = models.PositiveBigIntegerField(default=0)
    # Rupees at the paid value of the lots drawn: exact fractions of paise written "n/d", as
    # no fixed denominator fits every lot's value and a rounded figure would not add up.
    charged_paise = models.TextField(default="0")
    refunded_paise = models.TextField(default="0")
    disputes = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["clinic", "month", "tier_min_price_paise", "package_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "month", "package_key", "tier_min_price_paise"],
                name="one_outcome_row_per_bucket",
            )
        ]

    def __str__(self):
        return f"{self.clinic_id} {self.month:%Y-%m} {self.package_name or '—'}"


class OutcomeDirty(models.Model):
    """A (clinic, month) whose ``OutcomeMonth`` rows must be rebuilt before they are read.

    Inserted, in the writer's own transaction, whenever a lead or its dispute is saved (a
    charge, a release, an outcome, a refund): cheap for the writer, and exact for the reader,
    who rebuilds from committed data and deletes only the markers it saw.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    month = models.DateField()

    class Meta:
        indexes = [models.Index(fields=["clinic", "month"], name="outcome_dirty_clinic")]

    def __str__(self):
        return f"{self.clinic_id} {self.month:%Y-%m} to rebuild"
