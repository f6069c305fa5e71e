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
