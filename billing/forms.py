from django import forms

from antidote.admin_bases import ChangeReasonForm, settings_form_in_rupees
from antidote.money import format_number
from billing.models import CreditAccount, Kind, PricingTier


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
