"""Top-up pages, the test-payment checkout stand-in, results, receipts and the webhook."""

from django.conf import settings
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from antidote.errors import AntidoteError
from antidote.portal import clinic_member_required
from payments import services
from payments.forms import OrderReferenceForm, WebhookHeadersForm
from payments.gateway import TestModeGateway, test_checkout_allowed, test_payment_mode
from payments.models import PaymentOrder
from payments.selectors import active_packages, payment_orders_for


@require_GET
@clinic_member_required
def topup(request):
    context = {
        "packages": active_packages(),
        "test_mode": test_payment_mode(),
        "checkout_js": settings.RAZORPAY_CHECKOUT_JS,
        "min_rupees": settings.TOPUP_MIN_PAISE // 100,
        "max_rupees": settings.TOPUP_MAX_PAISE // 100,
        "dismissed": "dismissed" in request.GET,
    }
    return render(request, "payments/topup.html", context)


def _own_order(request, razorpay_order_id):
    form = OrderReferenceForm({"order": razorpay_order_id})
    if not form.is_valid():
        raise Http404("No such order.")
    return get_object_or_404(
        PaymentOrder.objects.select_related("package", "promo"),
        razorpay_order_id=form.cleaned_data["order"],
        clinic=request.clinic,
    )


@require_GET
@clinic_member_required
def test_checkout(request, razorpay_order_id):
    """Plays Razorpay's checkout in test-payment mode: pay, fail, or close."""
    if not test_checkout_allowed():
        raise Http404("The checkout stand-in exists only in test-payment mode with DEBUG on.")
    order = _own_order(request, razorpay_order_id)
    gateway = TestModeGateway()
    context = {
        "order": order,
        "payment_id": gateway.payment_id_for(order.razorpay_order_id),
        "signature": gateway.checkout_signature(order.razorpay_order_id),
    }
    return render(request, "payments/test_checkout.html", context)


@require_GET
@clinic_member_required
def payment_success(request):
    order = _own_order(request, request.GET.get("order"))
    return render(request, "payments/result.html", {"order": order, "outcome": "success"})


@require_GET
@clinic_member_required
def payment_failure(request):
    order = _own_order(request, request.GET.get("order"))
    return render(request, "payments/result.html", {"order": order, "outcome": "failure"})


@require_GET
@clinic_member_required
def payment_history(request):
    return render(
        request, "payments/history.html", {"orders": payment_orders_for(clinic=request.clinic)}
    )


@require_GET
@clinic_member_required
def receipt(request, pk):
    order = get_object_or_404(
        PaymentOrder, pk=pk, clinic=request.clinic, status=PaymentOrder.Status.PAID
    )
    return render(request, "payments/receipt.html", {"order": order})


@csrf_exempt  # Razorpay cannot send our CSRF token; the HMAC signature authenticates it
@require_POST
def razorpay_webhook(request):
    headers = WebhookHeadersForm(
        {
            "signature": request.headers.get("X-Razorpay-Signature", ""),
            "event_id": request.headers.get("X-Razorpay-Event-Id", ""),
        }
    )
    if not headers.is_valid():
        return JsonResponse({"status": "refused", "message": headers.first_error()}, status=400)
    try:
        result = services.handle_webhook(body=request.body, **headers.cleaned_data)
    except AntidoteError as error:
        return JsonResponse({"status": "refused", "message": error.message}, status=400)
    return JsonResponse({"status": "ok", "result": result})
