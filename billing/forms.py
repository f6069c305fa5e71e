from django import forms
from django.utils import timezone

from antidote.admin_bases import ChangeReasonForm, settings_form_in_rupees
from antidote.errors import AntidoteError
from antidote.money import format_number
from billing.models import CreditAccount, Kind, PricingTier
from billing.services import MAX_ENTRY_CREDITS, check_budget_cap


class TransferForm(forms.Form):
    """Move credits from this location to another of its organisation."""

    target = forms.ModelChoiceField(
        queryset=None, label="To location", empty_label="Choose a location"
    )
    credits = forms.IntegerField(min_value=1, max_value=MAX_ENTRY_CREDITS, label="Credits")
    memo = forms.CharField(max_length=200, required=False, label="Note (optional)")
    token = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, locations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].queryset = locations


class HistoryFilterForm(forms.Form):
    kind = forms.ChoiceField(choices=[("", "All kinds"), *Kind.choices], required=False)
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        cleaned = super().clean()
        if (
            cleaned.get("date_from")
            and cleaned.get("date_to")
            and cleaned["date_from"] > cleaned["date_to"]
        ):
            raise forms.ValidationError("The start date is after the end date.")
        return cleaned


PricingTierForm = settings_form_in_rupees(
    PricingTier,
    rupees={"min_price_paise": "From package price (₹)"},
    help_text="In rupees, inclusive: 5000 or 5,000.50.",
)


class CreditAccountSettingsForm(ChangeReasonForm):
    """Staff edit the overdraft limit and alert level; never the balance."""

    class Meta:
        model = CreditAccount
        fields = ["overdraft_limit", "low_balance_threshold"]

    def clean_overdraft_limit(self):
        limit = self.cleaned_data["overdraft_limit"]
        balance = self.instance.balance if self.instance.pk else 0
        # A clinic in debt is below any floor already; billing accepts any limit for it.
        if balance < -limit and not (self.instance.pk and self.instance.in_debt):
            raise forms.ValidationError(
                f"The balance is {format_number(balance)} credits; the overdraft limit cannot be "
                "below "
                f"{format_number(-balance)} until the clinic tops up."
            )
        return limit


class CreditAccountAdminForm(CreditAccountSettingsForm):
    """The account page in the admin: the settings, and the clinic's budget (caps and pause),
    which is saved through ``services.set_budget`` like the portal's."""

    weekly_cap = forms.IntegerField(required=False, label="Weekly cap (credits)")
    monthly_cap = forms.IntegerField(required=False, label="Monthly cap (credits)")
    paused = forms.BooleanField(required=False, label="Leads paused")
    pause_until = forms.DateField(
        required=False,
        label="Pause until (IST date)",
        help_text="Empty while paused: until resumed.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    BUDGET_FIELDS = ("weekly_cap", "monthly_cap", "paused", "pause_until")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        account = self.instance
        self.initial.setdefault("weekly_cap", account.weekly_cap)
        self.initial.setdefault("monthly_cap", account.monthly_cap)
        self.initial.setdefault("paused", account.paused)
        ends = account.pause_ends_at
        self.initial.setdefault("pause_until", ends and timezone.localdate(ends))

    def clean_weekly_cap(self):
        return self._cap("weekly cap", self.cleaned_data["weekly_cap"])

    def clean_monthly_cap(self):
        return self._cap("monthly cap", self.cleaned_data["monthly_cap"])

    def _cap(self, name, cap):
        try:
            check_budget_cap(name, cap)
        except AntidoteError as error:
            raise forms.ValidationError(error.message) from None
        return cap


class BudgetForm(forms.Form):
    """A clinic's caps and pause; the rules themselves are ``services.set_budget``'s."""

    RUNNING, UNTIL_DATE, UNTIL_RESUMED = "running", "until_date", "until_resumed"

    weekly_cap = forms.IntegerField(
        required=False,
        label="Weekly cap (credits)",
        help_text="Most credits leads may take from Monday 00:00 IST to Sunday. Empty: no cap.",
    )
    monthly_cap = forms.IntegerField(
        required=False,
        label="Monthly cap (credits)",
        help_text="Most credits leads may take in a calendar month (IST). Empty: no cap.",
    )
    pause = forms.ChoiceField(
        choices=[
            (RUNNING, "Take leads"),
            (UNTIL_DATE, "Pause until a date"),
            (UNTIL_RESUMED, "Pause until I resume"),
        ],
        widget=forms.RadioSelect,
        initial=RUNNING,
    )
    pause_until = forms.DateField(
        required=False,
        label="Resume on",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Leads start again at 00:00 IST on this day.",
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("pause") == self.UNTIL_DATE and not cleaned.get("pause_until"):
            self.add_error("pause_until", "Choose the day the pause ends.")
        if cleaned.get("pause") != self.UNTIL_DATE:
            cleaned["pause_until"] = None
        return cleaned
