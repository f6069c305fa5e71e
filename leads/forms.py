"""Every value a lead page receives is parsed here, by a form field, and nowhere else."""

import re

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import ValidationError
from django.utils.http import urlencode

from antidote.errors import AntidoteError
from antidote.fields import RupeesField
from leads.models import Clinic, ClinicMember, Lead, LeadNote, Package
from leads.selectors import clinic_members
from leads.services import BulkAction, normalise_phone, parse_indian_mobile

# Primary keys are bigint-sized at most; anything longer is not one of ours.
MAX_ID = 2**63 - 1
_LEAD_NUMBER = forms.IntegerField(min_value=1, max_value=MAX_ID)


MESSAGE_MAX = 2000


class EnquiryForm(forms.Form):
    name = forms.CharField(max_length=120, label="Your name")
    phone = forms.CharField(max_length=20, label="Mobile number")
    email = forms.EmailField(required=False, label="Email (optional)")
    # Never cut silently: the box has no maxlength (a browser would drop a pasted tail without
    # a word); a longer message comes back with the patient's text and how much to shorten.
    message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "data-max-chars": MESSAGE_MAX}),
        max_length=MESSAGE_MAX,
        required=False,
        help_text=f"Up to {MESSAGE_MAX:,} characters.",
        error_messages={
            "max_length": "Your message is %(show_value)d characters; the limit is "
            "%(limit_value)d. Shorten it and send again: nothing was sent."
        },
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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["message"].widget.attrs.pop("maxlength", None)

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
    q = forms.CharField(required=False, label="Search", max_length=200)
    status = forms.ChoiceField(choices=[("", "Any status"), *Lead.Status.choices], required=False)
    billing_state = forms.ChoiceField(
        choices=[("", "Any billing"), *Lead.Billing.choices], required=False, label="Billing"
    )
    package = forms.ModelChoiceField(queryset=Package.objects.none(), required=False)
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    assigned = forms.ChoiceField(
        choices=[("", "Anyone"), ("mine", "Mine"), ("unassigned", "Unassigned")],
        required=False,
        label="Assigned",
    )
    archived = forms.ChoiceField(
        choices=[("", "Not archived"), ("yes", "Archived"), ("any", "All")],
        required=False,
        label="Archive",
    )

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["package"].queryset = Package.objects.filter(clinic=clinic)
        self.fields["package"].empty_label = "Any package"

    def given(self) -> bool:
        """Whether the request names any filter at all (an empty one counts: "show all")."""
        return any(name in self.data for name in self.fields)

    def query(self) -> str:
        """The valid filters as the inbox's query string, to save as a default."""
        values = {
            name: self.data.get(name, "")
            for name in self.fields
            if name in self.cleaned_data and self.cleaned_data[name] not in (None, "")
        }
        return urlencode(values)

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            raise ValidationError(
                f"The start date ({start:%d %b %Y}) is after the end date ({end:%d %b %Y})."
            )
        # A search may also be a lead number; parsed by a field, so "²" or 5,000 digits are
        # just text that matches no number.
        try:
            cleaned["lead_number"] = _LEAD_NUMBER.clean(cleaned.get("q") or None)
        except ValidationError:
            cleaned["lead_number"] = None
        cleaned["phone_query"] = _phone_query(cleaned.get("q") or "")
        return cleaned


def _phone_query(query: str) -> str:
    """A search typed as a phone number, in the stored form: "098765 43210" and
    "+91 98765-43210" both find +919876543210; a part of a number ("98765 4") finds the
    numbers containing those digits. Anything else is not a phone search ("")."""
    whole = parse_indian_mobile(query)
    if whole is not None:
        return whole
    if re.fullmatch(r"[\d\s\-()+]+", query):
        digits = re.sub(r"\D", "", query)
        return digits if len(digits) >= 4 else ""
    return ""


class LeadStatusForm(forms.Form):
    lead_id = forms.IntegerField(min_value=1, max_value=MAX_ID)
    # Checked by the service, which says which statuses exist.
    status = forms.CharField(max_length=20, required=False)
    next = forms.CharField(max_length=2000, required=False)
    # The outcome's details; the service says which status needs which.
    booked_for = forms.DateField(required=False, label="Appointment date")
    revenue = RupeesField(required=False, label="Revenue (₹, optional)")
    lost_reason = forms.CharField(max_length=20, required=False, label="Reason")


class _MemberChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return obj.user.get_full_name() or obj.user.get_username()


class LeadNoteForm(forms.Form):
    body = forms.CharField(
        label="Add a note",
        max_length=LeadNote.MAX_LENGTH,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Write something in the note."},
    )


class LeadAssignForm(forms.Form):
    assignee = _MemberChoiceField(
        queryset=ClinicMember.objects.none(),
        required=False,
        empty_label="Nobody",
        label="Assigned to",
        error_messages={"invalid_choice": "Choose a member of this clinic."},
    )

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = clinic_members(clinic=clinic)


class LeadIdsField(forms.Field):
    """Several lead numbers from checkboxes; each parsed like any lead number."""

    widget = forms.MultipleHiddenInput
    MAX = 100
    default_error_messages = {
        "required": "Select at least one lead.",
        "too_many": f"Select at most {MAX} leads at a time.",
        "invalid": "Lead numbers are whole numbers.",
    }

    def to_python(self, value):
        if not value:
            return []
        if not isinstance(value, list | tuple):
            value = [value]
        if len(value) > self.MAX:
            raise ValidationError(self.error_messages["too_many"], code="too_many")
        try:
            return [_LEAD_NUMBER.clean(item) for item in value]
        except ValidationError as error:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from error


class BulkLeadForm(forms.Form):
    lead_ids = LeadIdsField()
    action = forms.ChoiceField(choices=BulkAction.CHOICES)
    status = forms.ChoiceField(choices=[("", "Status…"), *Lead.Status.choices], required=False)
    assignee = _MemberChoiceField(
        queryset=ClinicMember.objects.none(),
        required=False,
        empty_label="Team member…",
        error_messages={"invalid_choice": "Choose a member of this clinic."},
    )
    next = forms.CharField(max_length=2000, required=False)

    def __init__(self, *args, clinic, **kwargs):
        kwargs.setdefault("auto_id", "bulk-%s")  # beside the filter form's own fields
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = clinic_members(clinic=clinic)

    def clean(self):
        cleaned = super().clean()
        action = cleaned.get("action")
        if action == BulkAction.STATUS and not cleaned.get("status"):
            self.add_error("status", "Choose the status to set.")
        if (
            action == BulkAction.ASSIGN
            and not cleaned.get("assignee")
            and "assignee" not in (self._errors or {})
        ):
            self.add_error("assignee", "Choose the team member to assign the leads to.")
        return cleaned


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


class AnalyticsForm(forms.Form):
    """The analytics page's address: how many months back, and the CSV."""

    months = forms.IntegerField(min_value=1, max_value=36, required=False, label="Months")
    format = forms.ChoiceField(
        choices=[("", "page"), ("csv", "CSV")], required=False, label="Format"
    )
    scope = forms.ChoiceField(
        choices=[("", "This location"), ("chain", "Every location")],
        required=False,
        label="Scope",
    )
