"""Forms that parse what reaches payments from outside a clinic's session."""

from django import forms

from antidote.admin_bases import ChangeReasonForm, settings_form_in_rupees
from antidote.errors import AntidoteError
from antidote.fields import RupeesField
from payments.gst import STATE_CHOICES, clean_gstin
from payments.models import CreditPackage, PromoCode


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


class PaymentLinkReturnForm(forms.Form):
    """What Razorpay's payment page adds to our callback URL after a payment."""

    razorpay_payment_id = forms.RegexField(regex=r"^\w{1,60}$")
    razorpay_payment_link_id = forms.RegexField(regex=r"^\w{1,60}$")
    razorpay_payment_link_reference_id = forms.RegexField(regex=r"^[\w-]{1,60}$")
    razorpay_payment_link_status = forms.RegexField(regex=r"^\w{1,20}$")
    razorpay_signature = forms.RegexField(regex=r"^[0-9a-fA-F]{1,128}$")


CreditPackageForm = settings_form_in_rupees(
    CreditPackage,
    rupees={"price_paise": "Price (₹)"},
    help_text="In rupees, excluding GST: 5000 or 5,000.50.",
)


class PromoCodeForm(ChangeReasonForm):
    """Rupee amounts in rupees; the discount is a percent or, for a fixed discount, rupees."""

    discount_value = forms.CharField(
        label="Discount",
        max_length=20,
        help_text="A percentage (0–100) for a percentage discount; rupees for a fixed amount.",
    )

    class Meta:
        model = PromoCode
        fields = "__all__"
        field_classes = {"max_discount_paise": RupeesField, "min_amount_paise": RupeesField}
        labels = {
            "max_discount_paise": "Maximum discount (₹)",
            "min_amount_paise": "Minimum amount (₹)",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        promo = self.instance
        if promo.pk:  # as text, so an unchanged post compares equal (and needs no reason)
            fixed = promo.discount_type == PromoCode.Discount.FIXED
            value = promo.discount_value
            self.initial["discount_value"] = (
                RupeesField().prepare_value(value) if fixed else str(value)
            )

    def clean(self):
        cleaned = super().clean()
        raw = cleaned.get("discount_value")
        if raw is None:
            return cleaned
        if cleaned.get("discount_type") == PromoCode.Discount.FIXED:
            try:
                cleaned["discount_value"] = RupeesField().clean(raw)
            except forms.ValidationError as error:
                self.add_error("discount_value", error)
        else:
            try:
                percent = forms.IntegerField(min_value=0, max_value=100).clean(raw)
            except forms.ValidationError:
                self.add_error("discount_value", "A percentage is a whole number from 0 to 100.")
            else:
                cleaned["discount_value"] = percent
        return cleaned


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


# Automatic top-up ---------------------------------------------------------------------------


class ForClinicForm(forms.Form):
    """Names the clinic its page was made for (the switcher may have changed the session's)."""

    clinic = forms.IntegerField(min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput)


class AutoTopUpRuleForm(ForClinicForm):
    threshold_credits = forms.IntegerField(
        label="When the balance falls below (credits)", min_value=1, max_value=10_000_000
    )
    package = forms.ModelChoiceField(
        queryset=CreditPackage.objects.filter(is_active=True),
        required=False,
        empty_label="— a custom amount —",
        label="Buy this package",
    )
    amount_rupees = forms.IntegerField(
        label="…or this amount (₹, whole rupees)", required=False, min_value=1, max_value=10**9
    )
    monthly_max_rupees = forms.IntegerField(
        label="At most this much per month (₹, GST included)", min_value=1, max_value=10**9
    )
    monthly_max_count = forms.IntegerField(
        label="At most this many top-ups per month", min_value=1, max_value=31
    )
    top_up_early = forms.BooleanField(
        required=False,
        label="Top up early: add the credits spent in the last 2 days to the threshold",
    )

    def clean(self):
        data = super().clean()
        if bool(data.get("package")) == (data.get("amount_rupees") is not None):
            raise forms.ValidationError("Choose a package or enter an amount, not both.")
        return data


class PaymentMethodForm(ForClinicForm):
    method = forms.ChoiceField(choices=[("card", "Card"), ("upi", "UPI Autopay")])
    email = forms.EmailField(label="Email for Razorpay's receipts")
    contact = forms.RegexField(
        regex=r"^\+?[0-9]{10,15}$",
        label="Mobile number",
        error_messages={"invalid": "Enter a mobile number: 10 to 15 digits, + allowed first."},
    )
    max_amount_rupees = forms.IntegerField(
        label="Largest single debit (₹)", min_value=1, max_value=10**7, initial=15_000
    )


class MandateReturnForm(ForClinicForm):
    """What the checkout (recurring=1) hands back after the authorisation payment."""

    razorpay_order_id = forms.RegexField(regex=r"^\w{1,60}$")
    razorpay_payment_id = forms.RegexField(regex=r"^\w{1,60}$")
    razorpay_signature = forms.RegexField(regex=r"^[0-9a-fA-F]{1,128}$")
