"""The one place that talks to Razorpay, through its official SDK.

Every call has an explicit timeout and no SDK retries; every failure (Razorpay's errors,
timeouts, connection errors, answers that are not JSON) becomes ``PaymentUnavailable``, so
the clinic is told that nothing was charged. Only with ``PAYMENT_MODE=test``, an explicit
opt-in, does ``TestModeGateway`` answer locally while a checkout stand-in page plays
Razorpay's part in the browser; its signing key is derived from this deployment's
``SECRET_KEY``, never a constant anyone can read in the source.
"""

import hashlib
import hmac
import logging
import secrets

import razorpay
import requests
from django.conf import settings
from django.utils.crypto import salted_hmac

from antidote.errors import AntidoteError

logger = logging.getLogger(__name__)


class PaymentUnavailable(AntidoteError):
    code = "payment_unavailable"

    def __init__(self, detail: str):
        super().__init__("The payment service is unavailable right now; nothing was charged.")
        self.detail = detail


class SignatureMismatch(AntidoteError):
    code = "bad_signature"


def sign(secret: str, message: str) -> str:
    """Razorpay's signature: hex HMAC-SHA256 of ``message`` with ``secret``."""
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


class RazorpayGateway:
    def __init__(self, *, key_id: str, key_secret: str, webhook_secret: str, api_base: str):
        self.key_id = key_id
        self.webhook_secret = webhook_secret
        self.client = razorpay.Client(auth=(key_id, key_secret), base_url=api_base.rstrip("/"))
        self.client.enable_retry(False)
        self.timeout = settings.RAZORPAY_TIMEOUT_SECONDS

    def _call(self, what: str, function, *args):
        try:
            answer = function(*args, timeout=self.timeout)
        except (
            razorpay.errors.BadRequestError,
            razorpay.errors.GatewayError,
            razorpay.errors.ServerError,
            requests.RequestException,
            ValueError,  # an answer that is not JSON
        ) as error:
            logger.warning("Razorpay %s failed: %r", what, error)
            raise PaymentUnavailable(f"{what}: {error!r}") from error
        if not isinstance(answer, dict):
            raise PaymentUnavailable(f"{what}: unexpected answer {answer!r}")
        return answer

    def create_order(self, *, amount_paise: int, receipt: str, notes: dict) -> dict:
        data = {"amount": amount_paise, "currency": "INR", "receipt": receipt, "notes": notes}
        return self._call("create order", self.client.order.create, data)

    def fetch_payment(self, payment_id: str) -> dict:
        return self._call("fetch payment", self.client.payment.fetch, payment_id)

    def capture_payment(self, payment_id: str, amount_paise: int) -> dict:
        return self._call(
            "capture payment",
            self.client.payment.capture,
            payment_id,
            amount_paise,
            {"currency": "INR"},
        )

    def order_payments(self, order_id: str) -> list[dict]:
        return self._call("list order payments", self.client.order.payments, order_id).get(
            "items", []
        )

    def payment_refunds(self, payment_id: str) -> list[dict]:
        return self._call(
            "list payment refunds", self.client.payment.fetch_multiple_refund, payment_id
        ).get("items", [])

    def refund_payment(self, payment_id: str, *, amount_paise: int, notes: dict) -> dict:
        # A fresh dict each call: the SDK's default argument is a shared one.
        data = {"amount": amount_paise, "notes": notes}
        return self._call("refund payment", self.client.payment.refund, payment_id, data)

    def fetch_refund(self, refund_id: str) -> dict:
        return self._call("fetch refund", self.client.refund.fetch, refund_id)

    def verify_payment_signature(self, *, order_id: str, payment_id: str, signature: str) -> None:
        try:
            self.client.utility.verify_payment_signature(
                {
                    "razorpay_order_id": order_id,
                    "razorpay_payment_id": payment_id,
                    "razorpay_signature": signature,
                }
            )
        except razorpay.errors.SignatureVerificationError as error:
            raise SignatureMismatch(
                "The payment confirmation did not match this order; nothing was credited."
            ) from error

    def verify_webhook_signature(self, *, body: str, signature: str) -> None:
        if not self.webhook_secret:
            # An empty secret would make every signature forgeable.
            raise SignatureMismatch("Webhooks are refused: RAZORPAY_WEBHOOK_SECRET is not set.")
        try:
            self.client.utility.verify_webhook_signature(body, signature, self.webhook_secret)
        except razorpay.errors.SignatureVerificationError as error:
            raise SignatureMismatch("Webhook signature does not match.") from error


class TestModeGateway(RazorpayGateway):
    """Offline stand-in: orders and payments are made up locally, signatures are real HMACs.

    A test-mode payment id is the order id's token with a ``pay_test_`` prefix, so fetching
    a payment finds its order (and amount) in our own table.
    """

    KEY_ID = "rzp_test_local_mode"

    def __init__(self):
        self.key_secret = salted_hmac("payments.TestModeGateway", "checkout").hexdigest()
        super().__init__(
            key_id=self.KEY_ID,
            key_secret=self.key_secret,
            # Webhooks in test mode are as strict as live: refused unless a secret is set.
            webhook_secret=settings.RAZORPAY_WEBHOOK_SECRET,
            api_base="http://127.0.0.1:9",  # never called
        )

    def create_order(self, *, amount_paise: int, receipt: str, notes: dict) -> dict:
        return {
            "id": f"order_test_{secrets.token_hex(7)}",
            "amount": amount_paise,
            "currency": "INR",
            "receipt": receipt,
            "status": "created",
        }

    @staticmethod
    def payment_id_for(order_id: str) -> str:
        return "pay_test_" + order_id.removeprefix("order_test_")

    def checkout_signature(self, order_id: str) -> str:
        return sign(self.key_secret, f"{order_id}|{self.payment_id_for(order_id)}")

    def fetch_payment(self, payment_id: str) -> dict:
        from payments.models import PaymentOrder

        order_id = "order_test_" + payment_id.removeprefix("pay_test_")
        order = PaymentOrder.objects.filter(razorpay_order_id=order_id).first()
        if not payment_id.startswith("pay_test_") or order is None:
            raise PaymentUnavailable(f"test mode knows no payment {payment_id!r}")
        return {
            "id": payment_id,
            "order_id": order_id,
            "amount": order.charged_paise,
            "currency": "INR",
            "status": "captured",
        }

    def capture_payment(self, payment_id: str, amount_paise: int) -> dict:
        return self.fetch_payment(payment_id)

    def order_payments(self, order_id: str) -> list[dict]:
        return []  # test-mode checkout reports through verify-payment only

    def payment_refunds(self, payment_id: str) -> list[dict]:
        return []  # no money moves in test mode

    def refund_payment(self, payment_id: str, *, amount_paise: int, notes: dict) -> dict:
        # No money moved in, none moves out: the demo's refund is processed at once.
        return {
            "id": f"rfnd_test_{secrets.token_hex(7)}",
            "payment_id": payment_id,
            "amount": amount_paise,
            "notes": notes,
            "status": "processed",
        }

    def fetch_refund(self, refund_id: str) -> dict:
        raise PaymentUnavailable(f"test mode keeps no refund {refund_id!r}")


def test_payment_mode() -> bool:
    return settings.PAYMENT_MODE == "test"


def test_checkout_allowed() -> bool:
    """The stand-in lets a clinic pay itself: test mode, and DEBUG or an operator's say-so."""
    return test_payment_mode() and (settings.DEBUG or settings.PAYMENT_TEST_CHECKOUT_WITHOUT_DEBUG)


def get_gateway() -> RazorpayGateway:
    if test_payment_mode():
        return TestModeGateway()
    return RazorpayGateway(
        key_id=settings.RAZORPAY_KEY_ID,
        key_secret=settings.RAZORPAY_KEY_SECRET,
        webhook_secret=settings.RAZORPAY_WEBHOOK_SECRET,
        api_base=settings.RAZORPAY_API_BASE,
    )
