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
from antidote.logs import log_event

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
        self.key_secret = key_secret
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
            log_event(
                logger, "razorpay.unavailable", level=logging.ERROR, call=what, error=repr(error)
            )
            raise PaymentUnavailable(f"{what}: {error!r}") from error
        if not isinstance(answer, dict):
            raise PaymentUnavailable(f"{what}: unexpected answer {answer!r}")
        return answer

    def create_order(
        self, *, amount_paise: int, receipt: str, notes: dict, payment_capture: bool = False
    ) -> dict:
        data = {"amount": amount_paise, "currency": "INR", "receipt": receipt, "notes": notes}
        if payment_capture:
            # A recurring charge has no checkout to capture it after: Razorpay captures it.
            data["payment_capture"] = True
        return self._call("create order", self.client.order.create, data)

    # Recurring payments: a customer, a token authorised once through the checkout with
    # recurring=1, then an order and a recurring payment per charge.

    def create_customer(self, *, name: str, email: str, contact: str, notes: dict) -> dict:
        # fail_existing "0": the same details give back the customer made earlier.
        data = {"name": name, "email": email, "contact": contact, "fail_existing": "0"}
        return self._call("create customer", self.client.customer.create, {**data, "notes": notes})

    def create_authorisation_order(
        self,
        *,
        amount_paise: int,
        customer_id: str,
        method: str,
        max_amount_paise: int,
        expire_at: int,
        receipt: str,
        notes: dict,
    ) -> dict:
        data = {
            "amount": amount_paise,
            "currency": "INR",
            "customer_id": customer_id,
            "method": method,
            "payment_capture": True,
            "receipt": receipt,
            "notes": notes,
            "token": {
                "max_amount": max_amount_paise,
                "expire_at": expire_at,
                # Automatic top-ups come when the balance runs low, not on a calendar.
                "frequency": "as_presented",
            },
        }
        return self._call("create authorisation order", self.client.order.create, data)

    def fetch_token(self, *, customer_id: str, token_id: str) -> dict:
        return self._call("fetch token", self.client.token.fetch, customer_id, token_id)

    def create_recurring_payment(
        self,
        *,
        amount_paise: int,
        order_id: str,
        customer_id: str,
        token_id: str,
        email: str,
        contact: str,
        notes: dict,
    ) -> dict:
        data = {
            "email": email,
            "contact": contact,
            "amount": amount_paise,
            "currency": "INR",
            "order_id": order_id,
            "customer_id": customer_id,
            "token": token_id,
            "recurring": "1",
            "notes": notes,
        }
        return self._call("create recurring payment", self.client.payment.createRecurring, data)

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

    def create_payment_link(
        self, *, amount_paise: int, reference_id: str, description: str, callback_url: str, notes
    ) -> dict:
        data = {
            "amount": amount_paise,
            "currency": "INR",
            "accept_partial": False,
            "reference_id": reference_id,
            "description": description,
            "callback_url": callback_url,
            "callback_method": "get",
            "notes": notes,
        }
        return self._call("create payment link", self.client.payment_link.create, data)

    def fetch_payment_link(self, link_id: str) -> dict:
        return self._call("fetch payment link", self.client.payment_link.fetch, link_id)

    def verify_payment_link_signature(
        self, *, link_id: str, reference_id: str, status: str, payment_id: str, signature: str
    ) -> None:
        expected = sign(self.key_secret, f"{link_id}|{reference_id}|{status}|{payment_id}")
        if not hmac.compare_digest(expected, signature):
            raise SignatureMismatch(
                "The payment page's confirmation did not match this order; nothing was credited."
            )

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

    def create_order(self, *, amount_paise: int, receipt: str, notes: dict, **options) -> dict:
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
        from payments.models import PaymentOrder, SavedPaymentMethod

        order_id = "order_test_" + payment_id.removeprefix("pay_test_")
        mandate = SavedPaymentMethod.objects.filter(authorisation_order_id=order_id).first()
        if payment_id.startswith("pay_test_") and mandate is not None:
            token = "token_test_" + order_id.removeprefix("order_test_")
            return {
                "id": payment_id,
                "order_id": order_id,
                "method": mandate.method,
                "token_id": token,
                "amount": 100,
                "currency": "INR",
                "status": "captured",
            }
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

    def create_payment_link(self, *, reference_id: str, **kwargs) -> dict:
        # The "hosted page" of test mode is the checkout stand-in for the same order.
        from django.urls import reverse

        from payments.models import PaymentOrder

        order = PaymentOrder.objects.get(pk=int(reference_id.removeprefix("order-")))
        return {
            "id": f"plink_test_{secrets.token_hex(7)}",
            "short_url": reverse("payments:test-checkout", args=[order.razorpay_order_id]),
        }

    def fetch_payment_link(self, link_id: str) -> dict:
        return {"id": link_id, "payments": []}  # test mode pays through the stand-in only

    # Recurring payments in test mode: the mandate is granted and every charge captured at
    # once, locally; the recurring payment's id is the order's own test payment id.

    def create_customer(self, *, name: str, email: str, contact: str, notes: dict) -> dict:
        return {"id": f"cust_test_{secrets.token_hex(7)}", "name": name}

    def create_authorisation_order(self, *, amount_paise: int, receipt: str, **kwargs) -> dict:
        return self.create_order(amount_paise=amount_paise, receipt=receipt, notes={})

    def fetch_token(self, *, customer_id: str, token_id: str) -> dict:
        from payments.models import SavedPaymentMethod

        mandate = SavedPaymentMethod.objects.filter(razorpay_customer_id=customer_id).first()
        method = mandate.method if mandate else "card"
        return {
            "id": token_id,
            "entity": "token",
            "method": method,
            "card": {"last4": "1111", "network": "Visa"} if method == "card" else None,
            "vpa": {"username": "clinic", "handle": "testupi"} if method == "upi" else None,
            "recurring": True,
            "recurring_details": {"status": "confirmed", "failure_reason": None},
        }

    def create_recurring_payment(self, *, order_id: str, **kwargs) -> dict:
        return {
            "razorpay_payment_id": self.payment_id_for(order_id),
            "razorpay_order_id": order_id,
            "razorpay_signature": self.checkout_signature(order_id),
        }


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
