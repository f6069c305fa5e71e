from django import forms
from django.core.exceptions import ValidationError

from antidote.errors import AntidoteError
from leads.models import Clinic, Lead, Package
from leads.services import normalise_phone


class EnquiryForm(forms.Form):
    name = forms.CharField(max_length=120, label="Your name")
    phone = forms.CharField(max_length=20, label="Mobile number")
    email = forms.EmailField(required=False, label="Email (optional)")
    message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), max_length=2000, required=False
    )
    package = forms.IntegerField(required=False, widget=forms.HiddenInput)
    clinic = forms.IntegerField(required=False, widget=forms.HiddenInput)
    consent = forms.BooleanField(
        label="I agree that the clinic may contact me about this enquiry.",
        error_messages={"required": "Please agree to be contacted, or the clinic cannot reply."},
    )
    # Honeypot: hidden from people by CSS; bots fill it in.
    website = forms.CharField(required=False, label="Leave this empty")

    def clean_phone(self):
        try:
            return normalise_phone(self.cleaned_data["phone"])
        except AntidoteError as error:
            raise ValidationError(error.message) from error

    def clean(self):
        cleaned = super().clean()
        package_id, clinic_id = cleaned.get("package"), cleaned.get("clinic")
        if package_id:
            package = Package.objects.select_related("clinic").filter(pk=package_id).first()
            if package is None or not package.is_active or not package.clinic.is_active:
                raise ValidationError("This package is no longer available.")
            cleaned["package_obj"], cleaned["clinic_obj"] = package, package.clinic
        elif clinic_id:
            clinic = Clinic.objects.filter(pk=clinic_id).first()
            if clinic is None or not clinic.is_active:
                raise ValidationError("This clinic is not taking enquiries at the moment.")
            cleaned["package_obj"], cleaned["clinic_obj"] = None, clinic
        else:
            raise ValidationError("Choose a clinic or a package to enquire about.")
        return cleaned


class LeadFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search")
    status = forms.ChoiceField(choices=[("", "Any status"), *Lead.Status.choices], required=False)
    billing_state = forms.ChoiceField(
        choices=[("", "Any billing"), *Lead.Billing.choices], required=False, label="Billing"
    )
    package = forms.ModelChoiceField(queryset=Package.objects.none(), required=False)
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["package"].queryset = Package.objects.filter(clinic=clinic)
        self.fields["package"].empty_label = "Any package"
