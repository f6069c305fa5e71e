"""What 002 and 000 document for the top-up, answered as documented: the alias routes with
002's bodies and shapes, 002's promo types and messages, results without ``?order=``, the
top-up form without JavaScript, resumed checkouts and the custom-amount bonus."""

import pytest
from django.test import Client

from billing.selectors import account_balance
from payments.models import CreditPackage, PaymentOrder, PromoCode, PromoRedemption
from payments.services import quote_topup
from tests.factories import ClinicFactory, ClinicMemberFactory, LeadFactory, fund
from tests.payments.conftest import checkout_signature, session_clinic

pytestmark = pytest.mark.django_db


@pytest.fixture
def sample_codes(db):
    """002's sample codes with their stated meaning."""
    return {
        "SAVE20": PromoCode.objects.create(code="SAVE20", discount_value=20),
        "FLAT500": PromoCode.objects.create(
            code="FLAT500", discount_type=PromoCode.Discount.FIXED, discount_value=500_00
        ),
        "BONUS100": PromoCode.objects.create(code="BONUS100", bonus_percent=10),
    }


# 002's routes and fields ---------------------------------------------------------------------


def test_simple_purchase_credits_takes_002s_body_and_answers_002s_shape(
    member_client, razorpay, sample_codes
):
    # 002's example body, as its page's $.post sends it (the CSRF token in the header here).
    response = member_client.post(
        "/clinic/simple-purchase-credits",
        {"amount": 1000, "promo_code": "SAVE20", "csrf_token": "token_value"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {
        "success",
        "order_id",
        "key",
        "amount",
        "credits",
        "razorpay_amount",
        "currency",
        # GST (issue 14) beside 002's fields: the price, its GST, and the total Razorpay takes.
        "gst",
        "total",
    }
    assert (body["success"], body["amount"], body["razorpay_amount"], body["currency"]) == (
        True,
        800,
        944_00,
        "INR",
    )
    assert body["credits"] == 1_000
    assert body["order_id"].startswith("order_")


def test_simple_purchase_credits_refuses_a_bad_amount_with_400(member_client):
    response = member_client.post("/clinic/simple-purchase-credits", {"amount": 500})
    assert response.status_code == 400
    assert response.json() == {"success": False, "message": "The smallest top-up is ₹1,000."}


def test_simple_purchase_credits_needs_the_clinic_named_by_a_member_of_several(db):
    user = ClinicMemberFactory(clinic=ClinicFactory(name="A")).user
    ClinicMemberFactory(user=user, clinic=ClinicFactory(name="B"))
    client = Client()
    client.force_login(user)
    response = client.post("/clinic/simple-purchase-credits", {"amount": 1000})
    assert response.status_code == 400
    assert "does not say which clinic" in response.json()["message"]
    assert not PaymentOrder.objects.exists()


def test_clinic_verify_payment_takes_002s_body_and_answers_002s_shape(
    member_client, razorpay, clinic
):
    order_id = member_client.post(
        "/clinic/simple-purchase-credits", {"amount": 1000}, content_type="application/json"
    ).json()["order_id"]
    payment = razorpay.pay(order_id)
    response = member_client.post(
        "/clinic/verify-payment",
        {
            "razorpay_payment_id": payment["id"],
            "razorpay_order_id": order_id,
            "razorpay_signature": checkout_signature(order_id, payment["id"]),
            "csrf_token": "token_value",
        },
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert {"success", "message", "new_balance"} <= set(body)
    assert (body["success"], body["new_balance"]) == (True, 1_000)
    assert account_balance(clinic=clinic) == 1_000


def test_clinic_verify_payment_refuses_a_bad_signature_with_400(member_client, razorpay, clinic):
    order_id = member_client.post("/clinic/simple-purchase-credits", {"amount": 1000}).json()[
        "order_id"
    ]
    payment = razorpay.pay(order_id)
    response = member_client.post(
        "/clinic/verify-payment",
        {
            "razorpay_payment_id": payment["id"],
            "razorpay_order_id": order_id,
            "razorpay_signature": "ab" * 32,
        },
    )
    assert response.status_code == 400
    assert response.json()["success"] is False
    assert account_balance(clinic=clinic) == 0


@pytest.mark.parametrize(
    ("code", "discount", "bonus", "message"),
    [
        ("SAVE20", 200, 0, "20% discount applied"),
        ("FLAT500", 500, 0, "₹500 discount applied"),
        ("BONUS100", 0, 100, "10% bonus credits applied"),
    ],
)
def test_check_promo_code_takes_002s_code_field_and_answers_its_message(
    member_client, sample_codes, code, discount, bonus, message
):
    body = member_client.post(
        "/clinic/check-promo-code", {"code": code.lower(), "amount": 1000}
    ).json()
    assert (body["success"], body["discount"], body["bonus_credits"], body["message"]) == (
        True,
        discount,
        bonus,
        message,
    )


def test_percentage_bonus_rounds_down(clinic, sample_codes):
    quote = quote_topup(clinic=clinic, amount=1_009, promo_code="BONUS100")
    assert (quote.credits, quote.promo_bonus_credits, quote.discount_paise) == (1_009, 100, 0)


def test_a_percentage_bonus_above_100_is_refused_by_the_database(db):
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        PromoCode.objects.create(code="TOOMUCH", bonus_percent=101)


def test_bonus_percent_promo_is_posted_as_a_promo_bonus_entry(member_client, razorpay, clinic):
    PromoCode.objects.create(code="BONUS100", bonus_percent=10)
    order_id = member_client.post(
        "/clinic/simple-purchase-credits", {"amount": 2000, "promo_code": "BONUS100"}
    ).json()["order_id"]
    payment = razorpay.pay(order_id)
    member_client.post(
        "/clinic/verify-payment",
        {
            "razorpay_payment_id": payment["id"],
            "razorpay_order_id": order_id,
            "razorpay_signature": checkout_signature(order_id, payment["id"]),
        },
    )
    assert account_balance(clinic=clinic) == 2_200


# The result pages without ?order= ------------------------------------------------------------


def test_result_pages_without_an_order_show_the_clinics_latest_order(member_client, clinic):
    assert member_client.get("/payment-success").status_code == 404  # no orders yet
    member_client.post(
        "/create-razorpay-order", {"amount": 1000, "clinic": session_clinic(member_client)}
    )
    latest = member_client.post(
        "/create-razorpay-order", {"amount": 2000, "clinic": session_clinic(member_client)}
    ).json()["order_id"]
    for path in ("/payment-success", "/payment-failure"):
        response = member_client.get(path)
        assert response.status_code == 200
        assert response.context["order"].razorpay_order_id == latest
    # Another clinic's latest order is never shown.
    stranger = Client()
    stranger.force_login(ClinicMemberFactory(clinic=ClinicFactory()).user)
    assert stranger.get("/payment-success").status_code == 404


# The top-up form without JavaScript ---------------------------------------------------------


def test_topup_post_without_javascript_creates_the_order_and_shows_the_checkout_page(
    member_client, clinic
):
    growth = CreditPackage.objects.get(price_paise=5_000_00)
    response = member_client.post(
        "/clinic/credits/topup",
        {"clinic": session_clinic(member_client), "package": growth.pk, "amount": ""},
    )
    assert response.status_code == 200
    order = PaymentOrder.objects.get()
    assert response.context["order"] == order
    assert order.status == PaymentOrder.Status.PENDING
    assert f"/payments/test-checkout/{order.razorpay_order_id}" in response.text
    assert "Pay on Razorpay" in response.text


def test_topup_post_with_a_refused_amount_shows_the_error_beside_the_amount(member_client):
    response = member_client.post(
        "/clinic/credits/topup",
        {"clinic": session_clinic(member_client), "package": "", "amount": "500"},
    )
    assert response.status_code == 400
    assert response.context["error_field"] == "amount"
    assert 'data-testid="amount-error">The smallest top-up is ₹1,000.' in response.text
    assert 'value="500"' in response.text  # the typed amount is kept
    assert not PaymentOrder.objects.exists()


def test_topup_post_without_a_billing_state_is_refused_and_asks_for_it(client):
    # GST (issue 14) depends on the clinic's state: the no-JS form asks for it like the JSON.
    clinic = ClinicFactory(billing_state="")
    client.force_login(ClinicMemberFactory(clinic=clinic, role="owner").user)
    growth = CreditPackage.objects.get(price_paise=5_000_00)
    response = client.post(
        "/clinic/credits/topup",
        {"clinic": session_clinic(client), "package": growth.pk, "amount": ""},
    )
    assert response.status_code == 400
    assert response.context["error_field"] == "form"
    text = response.content.decode()
    assert "Choose your clinic&#x27;s billing state first" in text
    assert "billing-state-form" in text
    assert not PaymentOrder.objects.exists()


def test_live_promo_check_names_the_amount_as_the_field_of_an_amount_refusal(member_client):
    body = member_client.post("/clinic/check-promo-code", {"amount": "500"}).json()
    assert (body["success"], body["field"]) == (False, "amount")
    body = member_client.post(
        "/clinic/check-promo-code", {"amount": "1000", "promo_code": "NOPE"}
    ).json()
    assert (body["success"], body["field"]) == (False, "promo_code")


# Resuming a closed checkout instead of locking the code ---------------------------------------


def _pay(client, razorpay, order_id):
    payment = razorpay.pay(order_id)
    response = client.post(
        "/verify-payment",
        {
            "clinic": session_clinic(client),
            "razorpay_order_id": order_id,
            "razorpay_payment_id": payment["id"],
            "razorpay_signature": checkout_signature(order_id, payment["id"]),
        },
    )
    assert response.status_code == 200, response.content


def _order(client, **data):
    return client.post("/create-razorpay-order", {"clinic": session_clinic(client), **data}).json()


def test_asking_again_for_the_same_choice_and_code_resumes_the_open_order(member_client):
    PromoCode.objects.create(code="WELCOME10", discount_value=10, max_uses_per_clinic=1)
    first = _order(member_client, amount=2000, promo_code="WELCOME10")
    # The checkout was closed; the clinic asks again for the same thing.
    again = _order(member_client, amount=2000, promo_code="welcome10")
    assert again["success"] is True, again
    assert again["order_id"] == first["order_id"]
    assert PaymentOrder.objects.count() == 1
    assert PromoRedemption.objects.get().status == PromoRedemption.Status.RESERVED


def test_a_different_choice_cancels_the_earlier_order_and_takes_the_code(member_client):
    PromoCode.objects.create(code="WELCOME10", discount_value=10, max_uses_per_clinic=1)
    first = _order(member_client, amount=2000, promo_code="WELCOME10")
    second = _order(member_client, amount=3000, promo_code="WELCOME10")
    assert second["success"] is True, second
    assert second["order_id"] != first["order_id"]
    earlier = PaymentOrder.objects.get(razorpay_order_id=first["order_id"])
    assert earlier.status == PaymentOrder.Status.CANCELLED
    assert earlier.failure_reason == "replaced by a new top-up choice"
    assert earlier.redemption.status == PromoRedemption.Status.RELEASED
    # The cancelled order paid after all keeps the code only if its limits allow: they do not.
    from payments import services

    services.settle_paid_order(order=earlier, payment_id="pay_late", source="test")
    earlier.refresh_from_db()
    assert earlier.promo_overrun_paise == 200_00
    assert earlier.credits == 1_800


def test_another_clinic_never_resumes_an_order(member_client):
    PromoCode.objects.create(code="WELCOME10", discount_value=10)
    first = _order(member_client, amount=2000, promo_code="WELCOME10")
    other = Client()
    other.force_login(ClinicMemberFactory(clinic=ClinicFactory()).user)
    theirs = _order(other, amount=2000, promo_code="WELCOME10")
    assert theirs["order_id"] != first["order_id"]


# Pricing sense: custom amounts -----------------------------------------------------------


@pytest.mark.parametrize(
    ("rupees", "bonus"),
    [(1_000, 0), (4_999, 0), (5_000, 500), (9_000, 900), (60_000, 15_000)],
)
def test_a_custom_amount_gets_the_bonus_rate_of_the_packages_it_reaches(clinic, rupees, bonus):
    quote = quote_topup(clinic=clinic, amount=rupees)
    assert (quote.credits, quote.bonus_credits) == (rupees, bonus)


def test_60000_custom_buys_more_than_the_50000_package(clinic):
    enterprise = CreditPackage.objects.get(price_paise=50_000_00)
    custom = quote_topup(clinic=clinic, amount=60_000)
    assert custom.total_credits == 75_000 > enterprise.total_credits == 62_500


def test_the_custom_bonus_is_posted_as_a_bonus_entry(member_client, razorpay, clinic):
    from billing.models import CreditTransaction, Kind

    order_id = _order(member_client, amount=5000)["order_id"]
    _pay(member_client, razorpay, order_id)
    kinds = dict(CreditTransaction.objects.values_list("kind", "credits"))
    assert kinds == {Kind.PURCHASE: 5_000, Kind.BONUS: 500}


# Payment statuses and held leads --------------------------------------------------------------


def test_history_shows_a_failed_attempt_with_razorpays_reason(member_client, razorpay):
    from payments.services import record_attempt

    order_id = _order(member_client, amount=1000)["order_id"]
    order = PaymentOrder.objects.get(razorpay_order_id=order_id)
    record_attempt(
        order=order,
        payment={"id": "pay_f", "status": "failed", "error_description": "Card declined by bank"},
        source="test",
    )
    page = member_client.get("/clinic/payments").text
    assert "Payment failed" in page and "Card declined by bank" in page
    assert "Awaiting payment" not in page
    failure = member_client.get(f"/payment-failure?order={order_id}").text
    assert "Payment failed: Card declined by bank" in failure


def test_topup_page_says_how_many_leads_are_held_and_what_releases_them(member_client, clinic):
    fund(clinic, 50)
    LeadFactory.create_batch(3, clinic=clinic)  # 100 credits each, held
    page = member_client.get("/clinic/credits/topup")
    held = page.context["held"]
    assert (held.count, held.credits, held.needed) == (3, 300, 250)
    assert "3 leads are held" in page.text and "250 credits" in page.text


def test_after_a_top_up_the_result_says_which_leads_were_released_and_which_still_wait(
    member_client, razorpay, clinic, django_capture_on_commit_callbacks
):
    waiting = LeadFactory.create_batch(2, clinic=clinic)
    order_id = _order(member_client, amount=1000)["order_id"]
    # Ten more leads than 1,000 credits cover.
    LeadFactory.create_batch(10, clinic=clinic)
    with django_capture_on_commit_callbacks(execute=True):
        _pay(member_client, razorpay, order_id)
    page = member_client.get(f"/payment-success?order={order_id}")
    released = page.context["released"]
    assert len(released) == 10 and released[:2] == waiting
    assert "lead #" in page.text
    assert "2 leads still held" in page.text


def test_reopening_a_paid_orders_checkout_says_it_was_already_paid(member_client, clinic):
    order_id = _order(member_client, amount=1000)["order_id"]
    page = member_client.get(f"/payments/test-checkout/{order_id}")
    verify = member_client.post(
        "/verify-payment",
        {
            "clinic": session_clinic(member_client),
            "razorpay_order_id": order_id,
            "razorpay_payment_id": page.context["payment_id"],
            "razorpay_signature": page.context["signature"],
        },
    )
    assert verify.json()["already_paid"] is False
    again = member_client.get(f"/payments/test-checkout/{order_id}").text
    assert "already paid" in again and "Pay successfully" not in again
    assert account_balance(clinic=clinic) == 1_000


@pytest.mark.parametrize("body", ['"text"', "[1, 2]", "7", "null"])
@pytest.mark.parametrize("path", ["/clinic/simple-purchase-credits", "/clinic/verify-payment"])
def test_alias_routes_refuse_a_json_body_that_is_not_an_object_with_400(member_client, path, body):
    response = member_client.post(path, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["success"] is False
