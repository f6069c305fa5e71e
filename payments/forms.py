"""Forms that parse what reaches payments from outside a clinic's session."""

from django import forms


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
