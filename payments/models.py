"""Buying credits: the catalogue, promo codes, our payment orders and Razorpay's webhooks.

Every amount is integer paise; every credit count an integer. A paid order reaches the ledger
through billing's services with keys derived from the order (``purchase:order:<id>``), so
one paid order is credited once whatever path reports it.
"""

import unicodedata

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Upper
from simple_history.models import HistoricalRecords

from antidote.errors import AntidoteError
from billing.models import MAX_VALIDITY_DAYS
from payments.gst import STATE_CHOICES, amount_in_words, clean_gstin, state_label


def normalise_promo_code(text: str) -> str:
    """The one form of a promo code, for storing, uniqueness and lookup alike.

    NFKC folds look-alike forms (full-width letters), casefold folds case the way Unicode
    says (``ß`` → ``ss``), and the result is upper-cased in Python, never by the database,
    whose ``UPPER`` differs from Python's for such letters.
    """
    return unicodedata.normalize("NFKC", text).strip().casefold().upper()


def _validity_days(credits: str):
    return models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_VALIDITY_DAYS)],
        help_text=f"Days {credits} credits stay valid (1–{MAX_VALIDITY_DAYS}); empty: setting.",
    )


def _validity_within_bounds(field: str, name: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(**{f"{field}__isnull": True})
        | Q(**{f"{field}__gte": 1, f"{field}__lte": MAX_VALIDITY_DAYS}),
        name=name,
    )


class CreditPackage(models.Model):
    name = models.CharField(max_length=60)
    price_paise = models.PositiveBigIntegerField()
    credits = models.PositiveIntegerField(help_text="Paid credits (1 per rupee).")
    bonus_credits = models.PositiveIntegerField(default=0, help_text="Posted as a bonus entry.")
    paid_validity_days = _validity_days("paid")
    bonus_validity_days = _validity_days("bonus")
    is_active = models.BooleanField(default=True)
    sort_order = models.PositiveSmallIntegerField(default=0)
    history = HistoricalRecords()

    class Meta:
        ordering = ["sort_order", "price_paise"]
        constraints = [
            models.CheckConstraint(condition=Q(price_paise__gt=0), name="package_price_positive"),
            models.CheckConstraint(condition=Q(credits__gt=0), name="package_credits_positive"),
            _validity_within_bounds("paid_validity_days", "package_paid_validity_in_range"),
            _validity_within_bounds("bonus_validity_days", "package_bonus_validity_in_range"),
        ]

    def __str__(self):
        return self.name

    @property
    def total_credits(self) -> int:
        return self.credits + self.bonus_credits


class PromoCode(models.Model):
    class Discount(models.TextChoices):
        PERCENT = "percent", "Percentage"
        FIXED = "fixed", "Fixed amount"

    code = models.CharField(
        max_length=40, help_text="Matched ignoring case, spaces around it and look-alike forms."
    )
    description = models.CharField(max_length=200, blank=True)
    discount_type = models.CharField(
        max_length=10, choices=Discount.choices, default=Discount.PERCENT
    )
    discount_value = models.PositiveIntegerField(
        default=0, help_text="Percent (0–100) for a percentage; paise for a fixed amount."
    )
    max_discount_paise = models.PositiveBigIntegerField(null=True, blank=True)
    bonus_credits = models.PositiveIntegerField(
        default=0, help_text="Fixed bonus credits added to every top-up that uses the code."
    )
    bonus_percent = models.PositiveSmallIntegerField(
        default=0,
        help_text="Bonus as a percentage (0–100) of the paid credits, rounded down.",
    )
    bonus_validity_days = _validity_days("bonus")
    min_amount_paise = models.PositiveBigIntegerField(default=0)
    max_uses = models.PositiveIntegerField(
        null=True, blank=True, help_text="In total; empty = no limit."
    )
    max_uses_per_clinic = models.PositiveIntegerField(null=True, blank=True)
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]
        constraints = [
            # Codes are stored normalised; this still refuses a raw write of another case.
            models.UniqueConstraint(
                Upper("code"),
                name="promo_code_unique_ignoring_case",
                violation_error_message="A promo code with this code already exists.",
            ),
            models.CheckConstraint(
                condition=~Q(discount_type="percent") | Q(discount_value__lte=100),
                name="promo_percent_at_most_100",
            ),
            models.CheckConstraint(
                condition=Q(bonus_percent__lte=100), name="promo_bonus_percent_at_most_100"
            ),
            _validity_within_bounds("bonus_validity_days", "promo_bonus_validity_in_range"),
        ]

    def __str__(self):
        return self.code

    def save(self, *args, **kwargs):
        self.code = normalise_promo_code(self.code)
        super().save(*args, **kwargs)

    def clean(self):
        # Before uniqueness is validated, so "welcome10 " meets "WELCOME10" in the form.
        self.code = normalise_promo_code(self.code)


class PaymentOrder(models.Model):
    """Our record of one top-up, created before Razorpay's order and keyed by its id."""

    class Status(models.TextChoices):
        CREATED = "created", "Created"  # ours exists; Razorpay's not yet
        PENDING = "pending", "Awaiting payment"
        PAID = "paid", "Paid and credited"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        EXPIRED = "expired", "Expired unpaid"

    clinic = models.ForeignKey(
        "leads.Clinic", on_delete=models.PROTECT, related_name="payment_orders"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    package = models.ForeignKey(CreditPackage, on_delete=models.PROTECT, null=True, blank=True)
    promo = models.ForeignKey(PromoCode, on_delete=models.PROTECT, null=True, blank=True)
    base_amount_paise = models.PositiveBigIntegerField()
    discount_paise = models.PositiveBigIntegerField(default=0)
    amount_paise = models.PositiveBigIntegerField(
        help_text="Taxable value after the discount, excluding GST."
    )
    # GST as quoted when the order was made. Orders made before GST have none of it: their
    # amount is what was charged and they keep their receipts, with no invoice.
    gst_paise = models.PositiveBigIntegerField(default=0, help_text="GST charged on top.")
    gst_rate_bp = models.PositiveIntegerField(null=True, blank=True)
    place_of_supply = models.CharField(max_length=2, blank=True, help_text="GST state code.")
    credits = models.PositiveIntegerField()
    bonus_credits = models.PositiveIntegerField(default=0)
    promo_bonus_credits = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CREATED)
    razorpay_order_id = models.CharField(max_length=60, null=True, blank=True, unique=True)
    razorpay_payment_id = models.CharField(max_length=60, null=True, blank=True, unique=True)
    # Razorpay's hosted payment page for the same amount: the way to pay when the checkout
    # script cannot load. Paid through it, the order settles exactly as through checkout.
    razorpay_payment_link_id = models.CharField(max_length=60, null=True, blank=True, unique=True)
    payment_link_url = models.URLField(max_length=300, blank=True)
    failure_reason = models.CharField(max_length=255, blank=True)
    purchase_entry = models.OneToOneField(
        "billing.CreditTransaction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    refunded_paise = models.PositiveBigIntegerField(
        default=0, help_text="Money that went back to the payer (refunds and lost chargebacks)."
    )
    promo_overrun_paise = models.PositiveBigIntegerField(
        default=0,
        help_text="A discount already paid through that the promo's limits no longer allowed "
        "when the payment arrived: credited at 1 credit per rupee paid, with no bonus.",
    )
    overrun_acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    overrun_acknowledged_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("acknowledge_promo_overrun", "Can acknowledge a promo overrun after reviewing it")
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount_paise__gt=0), name="order_amount_positive"),
            models.CheckConstraint(
                condition=~Q(status="paid")
                | Q(razorpay_payment_id__isnull=False, paid_at__isnull=False),
                name="paid_order_has_payment",
            ),
        ]

    def __str__(self):
        return f"Order #{self.pk} ({self.clinic}, {self.get_status_display()})"

    @property
    def total_credits(self) -> int:
        return self.credits + self.bonus_credits + self.promo_bonus_credits

    @property
    def charged_paise(self) -> int:
        """What Razorpay is asked for: the taxable value plus GST."""
        return self.amount_paise + self.gst_paise


class PaymentAttempt(models.Model):
    """One Razorpay payment on one of our orders. Razorpay lets a customer try again on the
    same order after a failure, so a failed attempt never closes the order."""

    class Status(models.TextChoices):
        AUTHORIZED = "authorized", "Authorised"
        CAPTURED = "captured", "Captured"
        FAILED = "failed", "Failed"
        OTHER = "other", "Other"

    order = models.ForeignKey(PaymentOrder, on_delete=models.PROTECT, related_name="attempts")
    razorpay_payment_id = models.CharField(max_length=60, unique=True)
    status = models.CharField(max_length=12, choices=Status.choices)
    amount_paise = models.PositiveBigIntegerField(null=True, blank=True)
    error = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=40, help_text="Who reported it last.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.razorpay_payment_id} ({self.status}) on order #{self.order_id}"


class PaymentRefund(models.Model):
    """Money that went back from a paid order: one row per Razorpay refund or chargeback id,
    and at most one ledger debit per row (its key derives from that id, or from the row's own
    id for a refund staff start here, whose Razorpay id is known only after it is asked)."""

    class Kind(models.TextChoices):
        REFUND = "refund", "Refund made at Razorpay"
        CHARGEBACK = "chargeback", "Chargeback"
        STAFF = "staff_refund", "Refund of unused credits, started by staff"

    class Status(models.TextChoices):
        OPEN = "open", "Chargeback open"
        REVERSED = "reversed", "Credits taken back"
        WON = "won", "Chargeback won"
        STAFF = "staff", "Started by staff (posted by that flow)"
        # A refund staff started here: credits reserved, then Razorpay's answer.
        REQUESTED = "requested", "Credits reserved; Razorpay not asked yet or did not answer"
        PROCESSING = "processing", "Asked at Razorpay; waiting for the result"
        PROCESSED = "processed", "Refunded to the payment"
        FAILED = "failed", "Failed at Razorpay; credits restored"

    order = models.ForeignKey(PaymentOrder, on_delete=models.PROTECT, related_name="refunds")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    razorpay_id = models.CharField(
        max_length=60, unique=True, null=True, blank=True, help_text="rfnd_… or disp_…"
    )
    amount_paise = models.PositiveBigIntegerField(help_text="Money back, GST included.")
    status = models.CharField(max_length=10, choices=Status.choices)
    reversal_entry = models.OneToOneField(
        "billing.CreditTransaction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    source = models.CharField(max_length=40)
    created_at = models.DateTimeField(auto_now_add=True)
    # A refund started by staff: the paid credits it takes out, why, who, and its entries.
    credits = models.PositiveIntegerField(default=0)
    reason = models.CharField(max_length=255, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    request_token = models.UUIDField(
        null=True, blank=True, unique=True, help_text="The admin form's token: sent twice, once."
    )
    payout_entry = models.OneToOneField(
        "billing.CreditTransaction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    restore_entry = models.OneToOneField(
        "billing.CreditTransaction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    last_error = models.CharField(max_length=255, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        permissions = [
            ("refund_payments", "Can refund unused paid credits to the original payment")
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_paise__gt=0), name="payment_refund_amount_positive"
            ),
            models.CheckConstraint(
                condition=~Q(kind="staff_refund") | Q(credits__gt=0),
                name="staff_refund_has_credits",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["refund", "chargeback"]) | Q(razorpay_id__isnull=False),
                name="gateway_refund_has_razorpay_id",
            ),
        ]

    def __str__(self):
        name = self.razorpay_id or f"#{self.pk}"
        return f"{self.get_kind_display()} {name} on order #{self.order_id}"


class PromoRedemption(models.Model):
    """A promo use: reserved with the order, consumed when it is paid, released otherwise."""

    class Status(models.TextChoices):
        RESERVED = "reserved", "Reserved"
        CONSUMED = "consumed", "Consumed"
        RELEASED = "released", "Released"

    promo = models.ForeignKey(PromoCode, on_delete=models.PROTECT, related_name="redemptions")
    clinic = models.ForeignKey("leads.Clinic", on_delete=models.PROTECT, related_name="+")
    order = models.OneToOneField(PaymentOrder, on_delete=models.PROTECT, related_name="redemption")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RESERVED)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.promo} for order #{self.order_id} ({self.status})"


class PaymentEvent(models.Model):
    """Audit trail of everything that happened to an order, including refused attempts."""

    order = models.ForeignKey(
        PaymentOrder, on_delete=models.PROTECT, null=True, blank=True, related_name="events"
    )
    kind = models.CharField(max_length=40)
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.kind} (order #{self.order_id})"


class WebhookEvent(models.Model):
    """One row per Razorpay event id: a redelivered event is recognised and dropped."""

    event_id = models.CharField(max_length=80, unique=True)
    event = models.CharField(max_length=60)
    payload = models.JSONField()
    result = models.CharField(max_length=255, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    # Set once the event was applied (or refused for good). A row without it is an event
    # whose processing crashed: its redelivery is processed again, not dropped.
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.event} {self.event_id}"


class ClinicTaxDetails(models.Model):
    """Who a clinic's tax invoices are made out to. Documents copy these when issued, so a
    later edit changes no issued document."""

    clinic = models.OneToOneField(
        "leads.Clinic", on_delete=models.PROTECT, related_name="tax_details"
    )
    legal_name = models.CharField(max_length=200, blank=True)
    address = models.TextField(max_length=500, blank=True)
    state_code = models.CharField(max_length=2, choices=STATE_CHOICES, help_text="Billing state.")
    gstin = models.CharField(max_length=15, blank=True, help_text="Optional; 15 characters.")
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "clinic tax details"

    def __str__(self):
        return f"Tax details of {self.clinic}"

    def clean(self):
        if self.gstin:
            try:
                self.gstin = clean_gstin(self.gstin, state_code=self.state_code or None)
            except AntidoteError as error:
                raise ValidationError({"gstin": error.message}) from error


class TaxDocumentCounter(models.Model):
    """The last number issued in one series and financial year: locked by the transaction
    that issues the next, so the series has no gap and no duplicate."""

    series = models.CharField(max_length=20)
    financial_year = models.PositiveSmallIntegerField(help_text="The year it began (April).")
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["series", "financial_year"], name="one_counter_per_fy")
        ]

    def __str__(self):
        return f"{self.series} {self.financial_year}: {self.last_number}"


class TaxDocument(models.Model):
    """An issued GST document: a tax invoice for a paid order, or a credit note against one.

    Everything printed is copied here when it is issued (supplier, recipient, amounts, heads),
    so neither settings nor tax details changed later alter it. A receipt voucher and a refund
    voucher (the advance reading of prepaid credits) would be two more kinds with their own
    series, in the same table and counter.
    """

    class Kind(models.TextChoices):
        INVOICE = "invoice", "Tax invoice"
        CREDIT_NOTE = "credit_note", "Credit note"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    series = models.CharField(max_length=20)
    financial_year = models.PositiveSmallIntegerField()
    sequence = models.PositiveIntegerField()
    number = models.CharField(max_length=16)
    issued_on = models.DateField()
    issued_at = models.DateTimeField(auto_now_add=True)
    order = models.ForeignKey(PaymentOrder, on_delete=models.PROTECT, related_name="tax_documents")
    original = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="credit_notes"
    )
    refund = models.OneToOneField(
        PaymentRefund, on_delete=models.PROTECT, null=True, blank=True, related_name="credit_note"
    )
    supplier_legal_name = models.CharField(max_length=200)
    supplier_gstin = models.CharField(max_length=15)
    supplier_state_code = models.CharField(max_length=2)
    supplier_address = models.TextField()
    recipient_legal_name = models.CharField(max_length=200)
    recipient_address = models.TextField(blank=True)
    recipient_gstin = models.CharField(max_length=15, blank=True)
    place_of_supply = models.CharField(max_length=2)
    sac = models.CharField(max_length=8)
    description = models.CharField(max_length=200)
    credits = models.PositiveIntegerField()
    taxable_paise = models.PositiveBigIntegerField()
    rate_bp = models.PositiveIntegerField()
    cgst_paise = models.PositiveBigIntegerField(default=0)
    sgst_paise = models.PositiveBigIntegerField(default=0)
    igst_paise = models.PositiveBigIntegerField(default=0)
    total_paise = models.PositiveBigIntegerField()
    razorpay_payment_id = models.CharField(max_length=60)

    class Meta:
        ordering = ["-financial_year", "series", "-sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["series", "financial_year", "sequence"], name="tax_document_number_unique"
            ),
            models.UniqueConstraint(
                fields=["order"],
                condition=Q(kind="invoice"),
                name="one_invoice_per_order",
            ),
            models.CheckConstraint(
                condition=Q(
                    total_paise=F("taxable_paise")
                    + F("cgst_paise")
                    + F("sgst_paise")
                    + F("igst_paise")
                ),
                name="tax_document_heads_add_up",
            ),
            models.CheckConstraint(
                condition=Q(igst_paise=0) | Q(cgst_paise=0, sgst_paise=0),
                name="tax_document_igst_or_cgst_sgst",
            ),
            models.CheckConstraint(
                condition=Q(kind="invoice", original__isnull=True)
                | Q(kind="credit_note", original__isnull=False),
                name="credit_note_has_original",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.number}"

    @property
    def tax_paise(self) -> int:
        return self.cgst_paise + self.sgst_paise + self.igst_paise

    @property
    def b2b(self) -> bool:
        return bool(self.recipient_gstin)

    @property
    def interstate(self) -> bool:
        return self.place_of_supply != self.supplier_state_code

    @property
    def rate_percent(self) -> str:
        return f"{self.rate_bp / 100:g}%"

    @property
    def half_rate_percent(self) -> str:
        return f"{self.rate_bp / 200:g}%"

    @property
    def total_in_words(self) -> str:
        return amount_in_words(self.total_paise)

    @property
    def place_of_supply_label(self) -> str:
        return state_label(self.place_of_supply)

    @property
    def supplier_state_label(self) -> str:
        return state_label(self.supplier_state_code)


# Automatic top-up (Razorpay recurring payments) --------------------------------------------


class SavedPaymentMethod(models.Model):
    """A clinic's Razorpay customer and recurring token (a card or a UPI Autopay mandate).

    Only Razorpay's ids and what the portal shows (last 4 digits or the VPA) are kept; the card
    number never reaches us. A UPI mandate's token is usable once Razorpay confirms it.
    """

    class Method(models.TextChoices):
        CARD = "card", "Card"
        UPI = "upi", "UPI Autopay"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for Razorpay to confirm"
        CONFIRMED = "confirmed", "Confirmed"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled"

    clinic = models.OneToOneField(
        "leads.Clinic", on_delete=models.PROTECT, related_name="saved_payment_method"
    )
    razorpay_customer_id = models.CharField(max_length=60)
    razorpay_token_id = models.CharField(max_length=60, blank=True)
    # The authorisation order the clinic paid through the checkout (recurring=1).
    authorisation_order_id = models.CharField(max_length=60, unique=True, null=True, blank=True)
    method = models.CharField(max_length=4, choices=Method.choices)
    # Razorpay asks for both on every recurring payment.
    email = models.EmailField()
    contact = models.CharField(max_length=16)
    card_last4 = models.CharField(max_length=4, blank=True)
    vpa = models.CharField(max_length=100, blank=True)
    max_amount_paise = models.PositiveBigIntegerField(help_text="The mandate's limit per debit.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(card_last4="") | Q(card_last4__regex=r"^[0-9]{4}$"),
                name="saved_method_last4_digits",
            ),
            models.CheckConstraint(
                condition=~Q(status="confirmed") | ~Q(razorpay_token_id=""),
                name="confirmed_method_has_token",
            ),
            models.CheckConstraint(
                condition=Q(max_amount_paise__gt=0), name="saved_method_max_amount_positive"
            ),
        ]

    def __str__(self):
        return f"{self.get_method_display()} {self.display} of {self.clinic}"

    @property
    def display(self) -> str:
        if self.method == self.Method.CARD:
            return f"card ending {self.card_last4}" if self.card_last4 else "card"
        return self.vpa or "UPI"

    @property
    def usable(self) -> bool:
        return self.status == self.Status.CONFIRMED and bool(self.razorpay_token_id)


class AutoTopUpRule(models.Model):
    """When the balance falls below ``threshold_credits``, buy ``package`` (or ``amount_rupees``)
    with the saved method, within a monthly maximum in rupees and in number of top-ups."""

    clinic = models.OneToOneField(
        "leads.Clinic", on_delete=models.PROTECT, related_name="auto_topup_rule"
    )
    threshold_credits = models.PositiveIntegerField()
    top_up_early = models.BooleanField(
        default=False,
        help_text="Threshold plus credits spent in the last 2 days.",
    )
    package = models.ForeignKey(
        CreditPackage, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    amount_rupees = models.PositiveIntegerField(null=True, blank=True)
    monthly_max_paise = models.PositiveBigIntegerField(
        help_text="GST included, per IST calendar month."
    )
    monthly_max_count = models.PositiveSmallIntegerField()
    is_enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=255, blank=True)
    declines_in_a_row = models.PositiveSmallIntegerField(default=0)
    backoff_until = models.DateTimeField(null=True, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(threshold_credits__gt=0), name="auto_topup_threshold_positive"
            ),
            models.CheckConstraint(
                condition=Q(package__isnull=False, amount_rupees__isnull=True)
                | Q(package__isnull=True, amount_rupees__gt=0),
                name="auto_topup_package_or_amount",
            ),
            models.CheckConstraint(
                condition=Q(monthly_max_paise__gt=0, monthly_max_count__gt=0),
                name="auto_topup_monthly_max_positive",
            ),
        ]

    def __str__(self):
        return f"Automatic top-up of {self.clinic}"


class AutoTopUp(models.Model):
    """One automatic top-up: queued by a posting that crossed the threshold, then one order
    charged with the recurring-payment API. At most one per clinic is in flight (a partial
    unique index); the order reaches the ledger only through ``settle_paid_order``."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        CHARGING = "charging", "Charging (waiting for Razorpay)"
        SUCCEEDED = "succeeded", "Credited"
        DECLINED = "declined", "Declined"
        REFUSED = "refused", "Not attempted"

    IN_FLIGHT = (Status.QUEUED, Status.CHARGING)

    clinic = models.ForeignKey("leads.Clinic", on_delete=models.PROTECT, related_name="+")
    rule = models.ForeignKey(AutoTopUpRule, on_delete=models.PROTECT, related_name="attempts")
    order = models.OneToOneField(
        PaymentOrder, on_delete=models.PROTECT, null=True, blank=True, related_name="auto_topup"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    balance_at_trigger = models.BigIntegerField()
    threshold_at_trigger = models.BigIntegerField()
    charged_paise = models.PositiveBigIntegerField(default=0)
    razorpay_payment_id = models.CharField(max_length=60, blank=True)
    outcome = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic"],
                condition=Q(status__in=["queued", "charging"]),
                name="one_auto_topup_in_flight",
                violation_error_message="An automatic top-up is already in flight.",
            ),
            models.CheckConstraint(
                condition=~Q(status="succeeded") | Q(order__isnull=False),
                name="succeeded_auto_topup_has_order",
            ),
        ]

    def __str__(self):
        return f"Automatic top-up #{self.pk} of {self.clinic} ({self.get_status_display()})"
