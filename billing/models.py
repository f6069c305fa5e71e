"""Credit accounts, pricing tiers and the append-only ledger.

Only ``billing.services`` writes ``CreditTransaction`` rows or ``CreditAccount.balance``.
The rules are kept in layers: checks in the service, constraints here, and on PostgreSQL a
trigger that refuses UPDATE and DELETE on the ledger table (migration 0002).
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connections, models
from django.db.models import F, Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from antidote.errors import AntidoteError
from antidote.money import format_number

IST = ZoneInfo("Asia/Kolkata")


def ist_periods(now: datetime) -> tuple[date, date]:
    """The first days of the IST week (from Monday) and IST month that ``now`` falls in."""
    day = now.astimezone(IST).date()
    return day - timedelta(days=day.weekday()), day.replace(day=1)


def ist_midnight(day: date) -> datetime:
    """00:00 IST on ``day``: where a budget period or a pause begins or ends."""
    return datetime.combine(day, time.min, tzinfo=IST)


class CreditAccount(models.Model):
    clinic = models.OneToOneField(
        "leads.Clinic", on_delete=models.PROTECT, related_name="credit_account"
    )
    balance = models.BigIntegerField(default=0, editable=False)
    overdraft_limit = models.PositiveIntegerField(
        default=0, help_text="Credits the balance may go below zero."
    )
    low_balance_threshold = models.PositiveIntegerField(
        default=500, help_text="Warn the clinic when its balance falls below this."
    )
    low_balance_alerted_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Set when the low-balance email went out."
    )
    in_debt = models.BooleanField(
        default=False,
        editable=False,
        help_text="Below the floor: only a reversal (money that left) can put it there.",
    )
    # Budget (``billing.services.set_budget``): the clinic's own caps on gross lead charges per
    # IST week (from Monday 00:00) and IST month, and a pause, until ``pause_ends_at`` or (when
    # that is empty) until resumed. Enforced in the locked step that charges a lead.
    weekly_cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most credits lead charges may take in an IST week."
    )
    monthly_cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most credits lead charges may take in an IST month."
    )
    paused = models.BooleanField(default=False, help_text="No lead is charged while paused.")
    pause_ends_at = models.DateTimeField(
        null=True, blank=True, help_text="The pause ends by itself at this moment (IST midnight)."
    )
    # Spend counters, moved in the same UPDATE as the balance by every lead charge: gross
    # credits charged in the IST week starting ``week_start`` and month starting
    # ``month_start``. A period other than the current one counts as nothing spent.
    week_start = models.DateField(null=True, blank=True, editable=False)
    week_spent = models.BigIntegerField(default=0, editable=False)
    month_start = models.DateField(null=True, blank=True, editable=False)
    month_spent = models.BigIntegerField(default=0, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    # Settings changes only: the balance moves through the ledger, which is its own history.
    history = HistoricalRecords(
        excluded_fields=[
            "balance",
            "in_debt",
            "updated_at",
            "low_balance_alerted_at",
            "week_start",
            "week_spent",
            "month_start",
            "month_spent",
        ]
    )

    class Meta:
        permissions = [("adjust_credits", "Can adjust credits and grant bonus credits")]
        constraints = [
            # Debt (below the floor) is flagged by the posting that made it, and only a
            # reversal may make it; the flag is true exactly while the balance is below.
            models.CheckConstraint(
                condition=Q(balance__gte=-F("overdraft_limit"), in_debt=False)
                | Q(balance__lt=-F("overdraft_limit"), in_debt=True),
                name="balance_above_floor_unless_in_debt",
            ),
            models.CheckConstraint(
                condition=Q(weekly_cap__isnull=True) | Q(weekly_cap__gt=0),
                name="weekly_cap_positive",
            ),
            models.CheckConstraint(
                condition=Q(monthly_cap__isnull=True) | Q(monthly_cap__gt=0),
                name="monthly_cap_positive",
            ),
            models.CheckConstraint(
                condition=Q(pause_ends_at__isnull=True) | Q(paused=True),
                name="pause_end_only_when_paused",
            ),
        ]

    def __str__(self):
        return f"Credits of {self.clinic}"

    @property
    def floor(self) -> int:
        return -self.overdraft_limit

    @property
    def debt(self) -> int:
        """Credits below the floor: what a reversal took that the clinic had already spent."""
        return max(0, self.floor - self.balance)

    @property
    def is_low(self) -> bool:
        return self.balance < self.low_balance_threshold

    def is_paused_at(self, now: datetime) -> bool:
        return self.paused and (self.pause_ends_at is None or now < self.pause_ends_at)

    def spent_at(self, now: datetime) -> tuple[int, int]:
        """Gross lead charges in the IST week and the IST month of ``now`` (the counters)."""
        week, month = ist_periods(now)
        return (
            self.week_spent if self.week_start == week else 0,
            self.month_spent if self.month_start == month else 0,
        )

    def budget_refusal(self, *, credits: int, now: datetime) -> str | None:
        """Why a lead charge of ``credits`` (> 0) is over budget at ``now``; None if it is not.

        The same rule as ``billing_charge`` (migration 0009) and ``billing.services``.
        """
        if self.is_paused_at(now):
            until = (
                f"until {timezone.localtime(self.pause_ends_at, IST):%-d %b %Y}"
                if self.pause_ends_at
                else "until it is resumed"
            )
            return f"{self.clinic} has paused its leads {until}."
        week_spent, month_spent = self.spent_at(now)
        for name, cap, spent in [
            ("weekly", self.weekly_cap, week_spent),
            ("monthly", self.monthly_cap, month_spent),
        ]:
            if cap is not None and spent + credits > cap:
                return (
                    f"{self.clinic} has spent {format_number(spent)} of its {name} cap of "
                    f"{format_number(cap)} credits; {format_number(credits)} more would pass it."
                )
        return None


class PricingTier(models.Model):
    """A lead costs ``credits`` when its package's price is at least ``min_price_paise``."""

    min_price_paise = models.PositiveBigIntegerField(
        unique=True, help_text="Lower bound (inclusive) of the package price, in paise."
    )
    credits = models.PositiveIntegerField()
    label = models.CharField(max_length=60, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["min_price_paise"]
        constraints = [
            models.CheckConstraint(condition=Q(credits__gt=0), name="tier_credits_positive")
        ]

    def __str__(self):
        return f"≥ ₹{format_number(self.min_price_paise // 100)} → {self.credits} credits"


class Kind(models.TextChoices):
    PURCHASE = "purchase", "Purchase"
    BONUS = "bonus", "Bonus"
    PROMO_BONUS = "promo_bonus", "Promo bonus"
    LEAD_CHARGE = "lead_charge", "Lead charge"
    DISPUTE_REFUND = "dispute_refund", "Dispute refund"
    ADMIN_ADJUSTMENT = "admin_adjustment", "Admin adjustment"
    REVERSAL = "reversal", "Reversal"
    EXPIRY = "expiry", "Expiry"
    TRANSFER_OUT = "transfer_out", "Transfer out"
    TRANSFER_IN = "transfer_in", "Transfer in"


CREDIT_KINDS = frozenset(
    {Kind.PURCHASE, Kind.BONUS, Kind.PROMO_BONUS, Kind.DISPUTE_REFUND, Kind.TRANSFER_IN}
)
DEBIT_KINDS = frozenset({Kind.LEAD_CHARGE, Kind.EXPIRY, Kind.TRANSFER_OUT})


# The longest credits may stay valid (ten years), for grants, packages and promos alike: more
# is a typo (a year of 20260 days), and would keep deferred revenue on the books for ever.
MAX_VALIDITY_DAYS = 3650

# Within an account, entries' times follow their ids except by the time a posting waited for
# the account's lock (it takes its time before): far less than this.
ENTRY_TIME_SLACK = timedelta(days=1)


class LedgerQuerySet(models.QuerySet):
    def created_between(self, *, account_id, since=None, until=None):
        """One account's entries created in [``since``, ``until``) (either may be None).

        On PostgreSQL the range is first narrowed to a range of ids, found by bisection on the
        (account, id) index (``billing_first_entry_at``, migration 0011), with a day's slack
        each side; an index on (account, created_at) would cost every posting. The ids are
        asked for first and written into the query as numbers: as a function call in the
        query, the planner cannot see the range and may scan another index, calling the
        function for every row (3.4 s for a month of a million-row clinic).
        """
        entries = self.filter(account_id=account_id)
        if since is not None:
            entries = entries.filter(created_at__gte=since)
        if until is not None:
            entries = entries.filter(created_at__lt=until)
        connection = connections[self.db]
        unbounded = since is None and until is None
        if connection.vendor != "postgresql" or account_id is None or unbounded:
            return entries
        # Both ends as ids, even an open one (the account's last id): with one end alone the
        # planner guesses the range's share of the whole table, not of this account's rows.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT billing_first_entry_at(%(account)s, %(since)s), "
                "billing_first_entry_at(%(account)s, %(until)s)",
                {
                    "account": account_id,
                    "since": since - ENTRY_TIME_SLACK if since else "-infinity",
                    "until": until + ENTRY_TIME_SLACK if until else "infinity",
                },
            )
            first, after = cursor.fetchone()
        if since is not None:
            entries = entries.filter(id__gte=first)
        return entries.filter(id__lt=after)
        return entries

    def update(self, **kwargs):
        raise AntidoteError("Ledger entries are append-only; post a reversing entry instead.")

    def delete(self):
        raise AntidoteError("Ledger entries are append-only; post a reversing entry instead.")


class CreditTransaction(models.Model):
    """One ledger entry. ``credits`` is signed; ``balance_after`` chains per account."""

    Kind = Kind

    # Every index costs each posting; (account, id) below also serves lookups by account.
    account = models.ForeignKey(
        CreditAccount, on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    credits = models.BigIntegerField()
    balance_after = models.BigIntegerField()
    lead = models.ForeignKey(
        "leads.Lead", on_delete=models.PROTECT, null=True, blank=True, related_name="ledger_entries"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
        db_index=False,
    )
    memo = models.CharField(max_length=255, blank=True)
    idempotency_key = models.CharField(max_length=120)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = LedgerQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            # Also serves one account's entries by time: LedgerQuerySet.created_between.
            models.Index(fields=["account", "id"], name="ledger_account_id"),
        ]
        constraints = [
            # A constraint rather than unique=True: no extra LIKE index on PostgreSQL.
            models.UniqueConstraint(
                fields=["idempotency_key"], name="ledger_idempotency_key_unique"
            ),
            models.CheckConstraint(condition=~Q(credits=0), name="ledger_credits_nonzero"),
            models.CheckConstraint(
                condition=Q(kind__in=sorted(CREDIT_KINDS), credits__gt=0)
                | Q(kind__in=sorted(DEBIT_KINDS), credits__lt=0)
                | Q(kind__in=[Kind.ADMIN_ADJUSTMENT, Kind.REVERSAL]),
                name="ledger_sign_matches_kind",
            ),
            models.UniqueConstraint(
                fields=["lead"], condition=Q(kind="lead_charge"), name="one_charge_per_lead"
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.credits:+} ({self.idempotency_key})"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AntidoteError("Ledger entries are append-only; post a reversing entry instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AntidoteError("Ledger entries are append-only; post a reversing entry instead.")


class CreditLot(models.Model):
    """Credits granted together, with one expiry and (for paid credits) one rupee value.

    Invariant, kept by ``billing.services`` under the account's row lock: Σ ``remaining`` over
    an account's lots equals its balance when the balance is positive, and is zero otherwise
    (an overdraft or debt is unallocated; the next credit covers it first). A paid lot is worth
    ``value_paise / value_credits`` per credit, kept as that exact fraction: reports round once.
    """

    class LotKind(models.TextChoices):
        PAID = "paid", "Paid"
        BONUS = "bonus", "Bonus"

    account = models.ForeignKey(
        CreditAccount, on_delete=models.PROTECT, related_name="lots", db_index=False
    )
    kind = models.CharField(max_length=5, choices=LotKind.choices)
    source = models.ForeignKey(
        CreditTransaction,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="created_lots",
        help_text="The entry that created the lot (none for untraced migrated credits).",
    )
    restored_from = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="restorations",
        help_text="A refund to an expired lot comes back as a new lot; this is the old.",
    )
    granted = models.BigIntegerField()
    remaining = models.BigIntegerField()
    # The lot indexes' predicate. It changes only when a lot empties or is refilled, so the
    # per-charge update of ``remaining`` touches no indexed column and PostgreSQL can make it
    # a HOT update (no index entries, no index bloat on a lot drawn thousands of times).
    has_credits = models.GeneratedField(
        expression=Q(remaining__gt=0), output_field=models.BooleanField(), db_persist=True
    )
    expires_at = models.DateTimeField()
    value_paise = models.BigIntegerField(
        default=0, help_text="Paid lots: taxable paise paid (after discount, excluding GST)…"
    )
    value_credits = models.BigIntegerField(default=0, help_text="…for this many paid credits.")
    memo = models.CharField(max_length=255, blank=True)
    expiry_warned_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["expires_at", "id"]
        indexes = [
            # The charge's lot scan and the expiry job: only lots with credits left.
            models.Index(
                fields=["account", "expires_at"],
                name="lot_spendable",
                condition=Q(has_credits=True),
            ),
            models.Index(fields=["expires_at"], name="lot_due", condition=Q(has_credits=True)),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(granted__gt=0), name="lot_granted_positive"),
            models.CheckConstraint(
                condition=Q(remaining__gte=0, remaining__lte=F("granted")),
                name="lot_remaining_within_granted",
            ),
            models.CheckConstraint(
                condition=Q(kind="paid", value_credits__gt=0, value_paise__gte=0)
                | Q(kind="bonus", value_credits=0, value_paise=0),
                name="lot_value_matches_kind",
            ),
        ]

    def __str__(self):
        return f"Lot #{self.pk} ({self.kind}, {self.remaining:,}/{self.granted:,})"

    def value_of(self, credits: int) -> tuple[int, int]:
        """The exact rupee value of ``credits`` of this lot, as a (paise numerator, denominator)."""
        if self.kind != self.LotKind.PAID:
            return 0, 1
        return credits * self.value_paise, self.value_credits


class LotAllocation(models.Model):
    """How one ledger entry touched one lot: ``credits`` > 0 drawn from it, < 0 given back.

    A draw with no lot is the part of a debit that went into overdraft (or, for a reversal,
    debt). A credit entry that covered an overdraft draws from its own new lot.
    """

    entry = models.ForeignKey(
        CreditTransaction, on_delete=models.PROTECT, related_name="allocations"
    )
    lot = models.ForeignKey(
        CreditLot,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="allocations",
    )
    credits = models.BigIntegerField()

    class Meta:
        ordering = ["id"]
        constraints = [models.CheckConstraint(condition=~Q(credits=0), name="allocation_nonzero")]

    def __str__(self):
        return f"{self.entry_id} → lot {self.lot_id or '(overdraft)'}: {self.credits:+,}"


class LotExpiryChange(models.Model):
    """Audit row for staff moving a lot's expiry (through ``services.extend_lot_expiry``)."""

    lot = models.ForeignKey(CreditLot, on_delete=models.PROTECT, related_name="expiry_changes")
    old_expires_at = models.DateTimeField()
    new_expires_at = models.DateTimeField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    reason = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"Lot #{self.lot_id}: expiry moved to {self.new_expires_at:%Y-%m-%d}"


class ReconciliationRun(models.Model):
    """The outcome of each reconcile_* run, for the back office's dashboard."""

    name = models.CharField(max_length=20)  # "ledger" or "payments"
    ok = models.BooleanField()
    summary = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.name}: {'OK' if self.ok else 'FAILED'} ({self.summary})"
