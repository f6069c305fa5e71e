import pytest

from payments.gateway import sign
from tests.factories import ClinicMemberFactory
from tests.payments.fake_razorpay import FakeRazorpay

KEY_ID, KEY_SECRET, WEBHOOK_SECRET = "rzp_test_fake", "fake-key-secret", "fake-webhook-secret"


@pytest.fixture
def razorpay(settings):
    """Live mode, with the real SDK pointed at a local fake Razorpay."""
    fake = FakeRazorpay().start()
    settings.PAYMENT_MODE = "live"
    settings.RAZORPAY_KEY_ID = KEY_ID
    settings.RAZORPAY_KEY_SECRET = KEY_SECRET
    settings.RAZORPAY_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.RAZORPAY_API_BASE = fake.url
    settings.RAZORPAY_TIMEOUT_SECONDS = 0.5
    yield fake
    fake.stop()


@pytest.fixture
def member_client(client, clinic):
    client.force_login(ClinicMemberFactory(clinic=clinic).user)
    return client


def checkout_signature(order_id, payment_id):
    """What Razorpay's checkout hands the browser after a real payment."""
    return sign(KEY_SECRET, f"{order_id}|{payment_id}")


def webhook_signature(body: bytes):
    return sign(WEBHOOK_SECRET, body.decode())


def session_clinic(client) -> int:
    """The clinic a logged-in test client's portal pages are made for (its first, by name)."""
    from leads.models import ClinicMember

    chosen = client.session.get("clinic_id")
    memberships = ClinicMember.objects.filter(user_id=client.session["_auth_user_id"])
    ids = list(memberships.order_by("clinic__name").values_list("clinic_id", flat=True))
    return chosen if chosen in ids else ids[0]
