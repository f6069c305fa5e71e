"""Forms that parse what reaches payments from outside a clinic's session."""

from django import forms

from antidote.errors import AntidoteError
from payments.gst import STATE_CHOICES, clean_gstin


class WebhookHeadersForm(forms.Form):
    """Razorpay's webhook headers: a hex HMAC-SHA256 and a printable event id."""

    signature = forms.RegexField(
        regex=r"^[0-9a-fA-F]{64}$",
        error_messages={
            "required": "X-Razorpay-Signature and X-Razorpay-Event-Id headers are required.",
            "invalid": "X-Razorpay-Signature is not a signature.",
        },
    )
    event_id = forms.RegexField(
        regex=r"^[\x21-\x7e]{1,80}$",
        error_messages={
            "required": "X-Razorpay-Signature and X-Razorpay-Event-Id headers are required.",
            "invalid": "X-Razorpay-Event-Id is not an event id.",
        },
    )

    def first_error(self) -> str:
        return next(iter(self.errors.values()))[0]


class OrderReferenceForm(forms.Form):
    """``?order=`` on the result pages: one of our Razorpay order ids."""

    order = forms.RegexField(regex=r"^\w{1,60}$")


class TaxDetailsForm(forms.Form):
    """A clinic's tax details; a GSTIN is optional and must belong to the chosen state."""

    legal_name = forms.CharField(max_length=200, required=False, label="Legal name")
    address = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Billing address",
    )
    state_code = forms.ChoiceField(
        choices=[("", "Choose a state"), *STATE_CHOICES],
        label="State",
        error_messages={
            "required": "Choose your clinic's billing state.",
            "invalid_choice": "Choose a state from the list.",
        },
    )
    gstin = forms.CharField(max_length=40, required=False, label="GSTIN (optional)")

    def clean(self):
        data = super().clean()
        if data.get("gstin", "").strip() and data.get("state_code"):
            try:
                data["gstin"] = clean_gstin(data["gstin"], state_code=data["state_code"])
            except AntidoteError as error:
                self.add_error("gstin", error.message)
        return data


class BillingStateForm(forms.Form):
    """The one question the top-up page asks before the first top-up."""

    state_code = TaxDetailsForm.base_fields["state_code"]
