"""Top-up pages, the test-payment checkout stand-in, results, receipts and the webhook."""

from django.conf import settings
from django.contrib import messages
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from antidote.errors import AntidoteError
from antidote.paging import CursorForm
from antidote.portal import clinic_member_required
from payments import autotopup, services
from payments.api import OrderSerializer, quote_request
from payments.forms import (
    AutoTopUpRuleForm,
    BillingStateForm,
    ForClinicForm,
    MandateReturnForm,
    OrderReferenceForm,
    PaymentLinkReturnForm,
    PaymentMethodForm,
    TaxDetailsForm,
    WebhookHeadersForm,
)
from payments.gateway import TestModeGateway, get_gateway, test_checkout_allowed, test_payment_mode
from payments.models import (
    AutoTopUpRule,
    ClinicTaxDetails,
    PaymentOrder,
    SavedPaymentMethod,
    TaxDocument,
)
from payments.pdf import tax_document_pdf_response
from payments.selectors import (
    active_packages,
    auto_topups_for,
    held_leads_summary,
    latest_order,
    leads_released_by,
    order_state,
    payment_orders_for,
    tax_documents_for,
)


@require_http_methods(["GET", "POST"])
@clinic_member_required
def topup(request):
    """The top-up form. It works without JavaScript: its POST creates the order and shows
    the checkout page; the script only adds the live summary and opens the checkout in place."""
    context = {
        "packages": active_packages(),
        "test_mode": test_payment_mode(),
        "checkout_js": settings.RAZORPAY_CHECKOUT_JS,
        "min_rupees": settings.TOPUP_MIN_PAISE // 100,
        "max_rupees": settings.TOPUP_MAX_PAISE // 100,
        "dismissed": "dismissed" in request.GET,
        "held": held_leads_summary(clinic=request.clinic),
        "billing_state": services.billing_state_of(clinic=request.clinic),
        "billing_state_form": BillingStateForm(),
        "gst_rate_percent": f"{settings.GST_RATE_BASIS_POINTS / 100:g}",
    }
    if request.method == "POST":
        try:
            quote = quote_request(request, OrderSerializer, request.POST)
            order = services.create_order(clinic=request.clinic, user=request.user, quote=quote)
        except AntidoteError as error:
            field = "amount" if error.code == "amount" else "form"
            context.update(error=error.message, error_field=field, posted=request.POST)
            return render(request, "payments/topup.html", context, status=400)
        return render(request, "payments/checkout.html", _checkout_context(order))
    return render(request, "payments/topup.html", context)


def _checkout_context(order):
    return {
        "order": order,
        "test_mode": test_payment_mode(),
        "checkout_js": settings.RAZORPAY_CHECKOUT_JS,
        "key_id": get_gateway().key_id,
    }


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
        tax_documents_for(clinic=request.clinic), order__pk=pk, kind=TaxDocument.Kind.INVOICE
    )


def _own_credit_note(request, pk) -> TaxDocument:
    return get_object_or_404(
        tax_documents_for(clinic=request.clinic), pk=pk, kind=TaxDocument.Kind.CREDIT_NOTE
    )


def tax_document_html(request, document: TaxDocument, *, pdf_url: str):
    return render(request, "payments/tax_document.html", {"document": document, "pdf_url": pdf_url})


@require_GET
@clinic_member_required
def invoice(request, pk):
    document = _own_invoice(request, pk)
    return tax_document_html(request, document, pdf_url=f"/clinic/payments/{pk}/invoice.pdf")


@require_GET
@clinic_member_required
def invoice_pdf(request, pk):
    return tax_document_pdf_response(_own_invoice(request, pk))


@require_GET
@clinic_member_required
def credit_note(request, pk):
    document = _own_credit_note(request, pk)
    return tax_document_html(request, document, pdf_url=f"/clinic/credit-notes/{pk}.pdf")


@require_GET
@clinic_member_required
def credit_note_pdf(request, pk):
    return tax_document_pdf_response(_own_credit_note(request, pk))


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


def _result_order(request):
    """The order named by ``?order=``, or without one (001/002 link to the bare path) the
    clinic's latest order that reached Razorpay."""
    if "order" in request.GET:
        return _own_order(request, request.GET["order"])
    order = latest_order(clinic=request.clinic)
    if order is None:
        raise Http404("Your clinic has no payment orders yet.")
    return order


@require_GET
@clinic_member_required
def payment_success(request):
    order = _result_order(request)
    return render(request, "payments/result.html", _result_context(order, "success"))


@require_GET
@clinic_member_required
def payment_failure(request):
    order = _result_order(request)
    return render(request, "payments/result.html", _result_context(order, "failure"))


def _result_context(order, outcome):
    return {
        "order": order,
        "outcome": outcome,
        "state": order_state(order=order),
        "released": leads_released_by(order=order),
        "held": held_leads_summary(clinic=order.clinic),
    }


@require_POST
@clinic_member_required
def pay_by_link(request, pk):
    """Razorpay's hosted payment page for this order: no script of ours is needed to pay."""
    order = get_object_or_404(PaymentOrder, pk=pk, clinic=request.clinic)
    try:
        order = services.payment_link_for(
            order=order, callback_url=request.build_absolute_uri(reverse("payments:link-return"))
        )
    except AntidoteError as error:
        context = {**_checkout_context(order), "error": error.message}
        return render(request, "payments/checkout.html", context, status=400)
    # A page with the link, not a redirect: CSP's form-action would stop a form's redirect to
    # Razorpay's origin, while following a link is ordinary navigation.
    return render(request, "payments/checkout.html", _checkout_context(order))


@require_GET
@clinic_member_required
def payment_link_return(request):
    """Where Razorpay's payment page sends the payer back: verified, then settled once."""
    form = PaymentLinkReturnForm(request.GET)
    if not form.is_valid():
        return render(
            request,
            "payments/link_return.html",
            {"message": "This return from the payment page is incomplete; nothing was credited."},
            status=400,
        )
    data = form.cleaned_data
    try:
        order = services.verify_payment_link_return(
            clinic=request.clinic,
            link_id=data["razorpay_payment_link_id"],
            reference_id=data["razorpay_payment_link_reference_id"],
            status=data["razorpay_payment_link_status"],
            payment_id=data["razorpay_payment_id"],
            signature=data["razorpay_signature"],
        )
    except AntidoteError as error:
        status = 404 if error.code == "not_found" else 400
        return render(
            request, "payments/link_return.html", {"message": error.message}, status=status
        )
    return redirect(f"{reverse('payments:success')}?order={order.razorpay_order_id}")


PAYMENTS_PAGE_SIZE = 50


@require_GET
@clinic_member_required
def payment_history(request):
    cursor = CursorForm(request.GET)
    if not cursor.is_valid():
        return render(request, "payments/history.html", {"cursor": cursor}, status=400)
    orders = payment_orders_for(clinic=request.clinic).prefetch_related("attempts", "tax_documents")
    page = cursor.page_of(orders, size=PAYMENTS_PAGE_SIZE)
    rows = [(order, order_state(order=order)) for order in page.rows]
    return render(request, "payments/history.html", {"rows": rows, "page": page})


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


# Automatic top-up ---------------------------------------------------------------------------


def _auto_topup_page(request, *, status=200, **extra):
    context = {
        "saved": SavedPaymentMethod.objects.filter(clinic=request.clinic).first(),
        "rule": AutoTopUpRule.objects.filter(clinic=request.clinic).first(),
        "history": auto_topups_for(clinic=request.clinic)[:50],
        "test_mode": test_payment_mode(),
        **extra,
    }
    rule = context["rule"]
    if rule is not None:
        context["month_paise"], context["month_count"] = autotopup.month_usage(
            clinic_id=request.clinic.pk
        )
        context["level"] = autotopup.effective_threshold(rule)
    initial = {"clinic": request.clinic.pk}
    if rule is not None:
        initial.update(
            threshold_credits=rule.threshold_credits,
            package=rule.package_id,
            amount_rupees=rule.amount_rupees,
            monthly_max_rupees=rule.monthly_max_paise // 100,
            monthly_max_count=rule.monthly_max_count,
            top_up_early=rule.top_up_early,
        )
    context.setdefault("rule_form", AutoTopUpRuleForm(initial=initial))
    context.setdefault(
        "method_form",
        PaymentMethodForm(initial={"clinic": request.clinic.pk, "email": request.user.email}),
    )
    return render(request, "payments/auto_topup.html", context, status=status)


def _same_clinic(request, form) -> bool:
    if form.cleaned_data["clinic"] == request.clinic.pk:
        return True
    form.add_error(
        None,
        f"This page was opened for another clinic; you have since switched to {request.clinic}. "
        "Reload the page and try again.",
    )
    return False


@require_http_methods(["GET", "POST"])
@clinic_member_required
def auto_topup(request):
    """The rule, the saved method, the history, and one click to switch it off."""
    if request.method == "GET":
        return _auto_topup_page(request)
    form = AutoTopUpRuleForm(request.POST)
    if form.is_valid() and _same_clinic(request, form):
        data = form.cleaned_data
        try:
            autotopup.save_rule(
                clinic=request.clinic,
                user=request.user,
                threshold_credits=data["threshold_credits"],
                package_id=data["package"].pk if data["package"] else None,
                amount_rupees=data["amount_rupees"],
                monthly_max_rupees=data["monthly_max_rupees"],
                monthly_max_count=data["monthly_max_count"],
                top_up_early=data["top_up_early"],
            )
        except AntidoteError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, "Automatic top-up is on.")
            return redirect("payments:auto-topup")
    return _auto_topup_page(request, status=400, rule_form=form)


@require_POST
@clinic_member_required
def auto_topup_off(request):
    form = ForClinicForm(request.POST)
    if form.is_valid() and _same_clinic(request, form):
        try:
            autotopup.switch_off(clinic=request.clinic, user=request.user)
        except AntidoteError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "Automatic top-up is off. Nothing more will be charged.")
    else:
        messages.error(request, next(iter(form.errors.values()))[0])
    return redirect("payments:auto-topup")


@require_POST
@clinic_member_required
def auto_topup_method(request):
    """Start saving a card or UPI mandate: Razorpay's customer and authorisation order, then
    the checkout with recurring=1 (in test-payment mode, authorised here at once)."""
    form = PaymentMethodForm(request.POST)
    if not (form.is_valid() and _same_clinic(request, form)):
        return _auto_topup_page(request, status=400, method_form=form)
    data = form.cleaned_data
    try:
        saved = autotopup.start_mandate(
            clinic=request.clinic,
            user=request.user,
            method=data["method"],
            email=data["email"],
            contact=data["contact"],
            max_amount_paise=data["max_amount_rupees"] * 100,
        )
        if test_checkout_allowed():
            gateway = TestModeGateway()
            order_id = saved.authorisation_order_id
            autotopup.confirm_mandate(
                clinic=request.clinic,
                razorpay_order_id=order_id,
                razorpay_payment_id=gateway.payment_id_for(order_id),
                razorpay_signature=gateway.checkout_signature(order_id),
            )
            messages.success(request, "Test payment method saved (test-payment mode).")
            return redirect("payments:auto-topup")
    except AntidoteError as error:
        form.add_error(None, error.message)
        return _auto_topup_page(request, status=400, method_form=form)
    return render(
        request,
        "payments/auto_topup_checkout.html",
        {
            "saved": saved,
            "key_id": get_gateway().key_id,
            "checkout_js": settings.RAZORPAY_CHECKOUT_JS,
        },
    )


@require_POST
@clinic_member_required
def auto_topup_method_confirm(request):
    form = MandateReturnForm(request.POST)
    if form.is_valid() and _same_clinic(request, form):
        data = form.cleaned_data
        try:
            saved = autotopup.confirm_mandate(
                clinic=request.clinic,
                razorpay_order_id=data["razorpay_order_id"],
                razorpay_payment_id=data["razorpay_payment_id"],
                razorpay_signature=data["razorpay_signature"],
            )
        except AntidoteError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"Saved: {saved.display} ({saved.get_status_display()}).")
    else:
        messages.error(request, "The checkout's answer was incomplete; nothing was saved.")
    return redirect("payments:auto-topup")
