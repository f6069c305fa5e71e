"""Deploy checks for the payment settings: an unsafe payment configuration is an error."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security, deploy=True)
def check_payment_mode(app_configs=None, **kwargs):
    problems = []
    if settings.PAYMENT_MODE == "test" and not settings.DEBUG:
        problems.append(
            Error(
                "PAYMENT_MODE is 'test' with DEBUG off: top-ups are not real payments and a "
                "clinic can pay itself any amount.",
                hint="Set PAYMENT_MODE=live with RAZORPAY_KEY_ID and RAZORPAY_KEY_SECRET.",
                id="payments.E001",
            )
        )
    if settings.PAYMENT_TEST_CHECKOUT_WITHOUT_DEBUG and not settings.DEBUG:
        problems.append(
            Error(
                "PAYMENT_TEST_CHECKOUT_WITHOUT_DEBUG opens the test checkout stand-in with DEBUG "
                "off.",
                hint="Unset it anywhere real clinics log in.",
                id="payments.E002",
            )
        )
    if settings.PAYMENT_MODE == "live" and not settings.RAZORPAY_WEBHOOK_SECRET:
        problems.append(
            Warning(
                "RAZORPAY_WEBHOOK_SECRET is empty: every Razorpay webhook is refused, and a "
                "payment whose browser tab closed waits for reconcile_payments.",
                hint="Set the secret configured on Razorpay's webhook.",
                id="payments.W001",
            )
        )
    return problems


@register(Tags.compatibility)
def check_gst_supplier(app_configs=None, **kwargs):
    """The supplier GSTIN printed on every invoice is a real GSTIN of the supplier's state."""
    from antidote.errors import AntidoteError
    from payments.gst import STATES, clean_gstin

    if not settings.GST_SUPPLIER_CONFIGURED:
        return []  # only a schema command gets here; everything else refused to start
    if settings.GST_SUPPLIER_STATE_CODE not in STATES:
        return [
            Error(
                f"GST_SUPPLIER_STATE_CODE {settings.GST_SUPPLIER_STATE_CODE!r} is not a GST "
                "state code.",
                hint="Two digits, e.g. 29 for Karnataka.",
                id="payments.E003",
            )
        ]
    try:
        clean_gstin(settings.GST_SUPPLIER_GSTIN, state_code=settings.GST_SUPPLIER_STATE_CODE)
    except AntidoteError as error:
        return [Error(f"GST_SUPPLIER_GSTIN: {error.message}", id="payments.E004")]
    return []
