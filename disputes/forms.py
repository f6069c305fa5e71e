from django import forms
from django.conf import settings

from disputes.models import Dispute


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/*,application/pdf"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)] if data else []


class DisputeForm(forms.Form):
    dispute_type = forms.ChoiceField(choices=Dispute.Type.choices, label="What is wrong?")
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        min_length=settings.DISPUTE_MIN_DESCRIPTION,
        max_length=4000,
        help_text=f"At least {settings.DISPUTE_MIN_DESCRIPTION} characters: what did you try?",
    )
    evidence = MultipleFileField(
        required=False,
        help_text="Optional: screenshots or PDFs, up to 5 files of 5 MB each.",
    )


class DisputeFilterForm(forms.Form):
    status = forms.ChoiceField(
        choices=[("", "Any status"), *Dispute.Status.choices], required=False
    )
    dispute_type = forms.ChoiceField(
        choices=[("", "Any type"), *Dispute.Type.choices], required=False, label="Type"
    )


class PartialRefundForm(forms.Form):
    credits = forms.IntegerField(min_value=1)


class RejectForm(forms.Form):
    notes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), label="Notes for the clinic"
    )


WHOLE_CREDITS = "refund_amount must be a whole number of credits."
APPROVED_OR_REJECTED = "status must be 'approved' or 'rejected'."


class ResolveForm(forms.Form):
    """The documented staff path's POST: a decision, notes, and an optional partial refund."""

    status = forms.ChoiceField(
        choices=[("approved", "Approved"), ("rejected", "Rejected")],
        error_messages={key: APPROVED_OR_REJECTED for key in ("required", "invalid_choice")},
    )
    admin_notes = forms.CharField(required=False)
    refund_amount = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=2**31 - 1,
        error_messages={key: WHOLE_CREDITS for key in ("invalid", "min_value", "max_value")},
    )

    def first_error(self) -> str:
        return next(iter(self.errors.values()))[0]
