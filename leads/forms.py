"""Every value a lead page receives is parsed here, by a form field, and nowhere else."""

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import ValidationError

from antidote.errors import AntidoteError
from leads.models import Clinic, ClinicMember, Lead, Package
from leads.services import normalise_phone

# Primary keys are bigint-sized at most; anything longer is not one of ours.
MAX_ID = 2**63 - 1
_LEAD_NUMBER = forms.IntegerField(min_value=1, max_value=MAX_ID)


class EnquiryForm(forms.Form):
    name = forms.CharField(max_length=120, label="Your name")
    phone = forms.CharField(max_length=20, label="Mobile number")
    email = forms.EmailField(required=False, label="Email (optional)")
    message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), max_length=2000, required=False
    )
    package = forms.ModelChoiceField(
        queryset=Package.objects.select_related("clinic"),
        required=False,
        widget=forms.HiddenInput,
        error_messages={"invalid_choice": "This package is no longer available."},
    )
    clinic = forms.ModelChoiceField(
        queryset=Clinic.objects.all(),
        required=False,
        widget=forms.HiddenInput,
        error_messages={"invalid_choice": "This clinic is not taking enquiries at the moment."},
    )
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
        for hidden in ("package", "clinic"):
            # The patient cannot see a hidden field's error; show it above the form instead.
            if hidden in self._errors:
                raise ValidationError(self._errors.pop(hidden))
        package, clinic = cleaned.get("package"), cleaned.get("clinic")
        if package is not None:
            if not package.is_active or not package.clinic.is_active:
                raise ValidationError("This package is no longer available.")
            cleaned["clinic"] = package.clinic
        elif clinic is not None:
            if not clinic.is_active:
                raise ValidationError("This clinic is not taking enquiries at the moment.")
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

    def clean(self):
        cleaned = super().clean()
        # A search may also be a lead number; parsed by a field, so "²" or 5,000 digits are
        # just text that matches no number.
        try:
            cleaned["lead_number"] = _LEAD_NUMBER.clean(cleaned.get("q") or None)
        except ValidationError:
            cleaned["lead_number"] = None
        return cleaned


class LeadStatusForm(forms.Form):
    lead_id = forms.IntegerField(min_value=1, max_value=MAX_ID)
    # Checked by the service, which says which statuses exist.
    status = forms.CharField(max_length=20, required=False)
    next = forms.CharField(max_length=2000, required=False)


class SwitchClinicForm(forms.Form):
    clinic_id = forms.IntegerField(min_value=1, max_value=MAX_ID)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=ClinicMember.Role.choices)


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254)
    # The least a new member can do by default; owners choose more deliberately.
    role = forms.ChoiceField(
        choices=ClinicMember.Role.choices, initial=ClinicMember.Role.FRONT_DESK
    )


class InvitedAccountForm(UserCreationForm):
    """A new account for an invited address: a username and a password, checked by the
    project's password validators against the invited address too."""

    def __init__(self, *args, email: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.email = email
