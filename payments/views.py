"""Top-up pages, the test-payment checkout stand-in, results, receipts and the webhook."""

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from antidote.errors import AntidoteError
from antidote.portal import clinic_member_required
from payments import services
from payments.forms import (
    BillingStateForm,
    OrderReferenceForm,
    TaxDetailsForm,
    WebhookHeadersForm,
)
from payments.gateway import TestModeGateway, test_checkout_allowed, test_payment_mode
from payments.models import ClinicTaxDetails, PaymentOrder, TaxDocument
from payments.pdf import tax_document_pdf
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
        "billing_state": services.billing_state_of(clinic=request.clinic),
        "billing_state_form": BillingStateForm(),
        "gst_rate_percent": f"{settings.GST_RATE_BASIS_POINTS / 100:g}",
    }
    return render(request, "payments/topup.html", context)


@require_POST
@clinic_member_required
def billing_state(request):
    """The top-up page's first question: the clinic's billing state (its place of supply)."""
    form = BillingStateForm(request.POST)
    if form.is_valid():
        try:
            services.save_billing_state(
                clinic=request.clinic, state_code=form.cleaned_data["state_code"]
            )
        except AntidoteError as error:
            messages.error(request, error.message)
    else:
        messages.error(request, next(iter(form.errors.values()))[0])
    return redirect("payments:topup")


@require_http_methods(["GET", "POST"])
@clinic_member_required
def tax_details(request):
    details = ClinicTaxDetails.objects.filter(clinic=request.clinic).first()
    initial = (
        {
            "legal_name": details.legal_name,
            "address": details.address,
            "state_code": details.state_code,
            "gstin": details.gstin,
        }
        if details
        else {"legal_name": request.clinic.name}
    )
    form = TaxDetailsForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.save_tax_details(clinic=request.clinic, **form.cleaned_data)
        except AntidoteError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, "Tax details saved. Invoices already issued keep theirs.")
            return redirect("payments:tax-details")
    return render(request, "payments/tax_details.html", {"form": form, "details": details})


def _own_invoice(request, pk) -> TaxDocument:
    return get_object_or_404(
        TaxDocument.objects.select_related("order"),
        order__pk=pk,
        order__clinic=request.clinic,
        kind=TaxDocument.Kind.INVOICE,
    )


def tax_document_html(request, document: TaxDocument, *, pdf_url: str):
    return render(request, "payments/tax_document.html", {"document": document, "pdf_url": pdf_url})


def tax_document_pdf_response(document: TaxDocument) -> HttpResponse:
    """A file we serve back: an attachment, never sniffed, sandboxed if opened."""
    response = HttpResponse(tax_document_pdf(document), content_type="application/pdf")
    name = document.number.replace("/", "-")
    response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


@require_GET
@clinic_member_required
def invoice(request, pk):
    document = _own_invoice(request, pk)
    return tax_document_html(request, document, pdf_url=f"/clinic/payments/{pk}/invoice.pdf")


@require_GET
@clinic_member_required
def invoice_pdf(request, pk):
    return tax_document_pdf_response(_own_invoice(request, pk))


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
