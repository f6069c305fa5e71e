import uuid
from datetime import date

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_GET

from antidote.admin_bases import (
    BigListMixin,
    ChangeReasonAdmin,
    HistoryAdmin,
    MoneyActionConfirmation,
    MoneyMove,
    ReadOnlyAdmin,
)
from antidote.errors import AntidoteError
from antidote.money import format_number, format_paise
from antidote.when import format_ist_column
from billing.sources import register_entry_source
from payments import refunds, selectors, services
from payments.forms import CreditPackageForm, PromoCodeForm
from payments.models import (
    AutoTopUp,
    AutoTopUpRule,
    ClinicTaxDetails,
    CreditPackage,
    PaymentAttempt,
    PaymentEvent,
    PaymentOrder,
    PaymentRefund,
    PromoCode,
    SavedPaymentMethod,
    TaxDocument,
    WebhookEvent,
)
from payments.selectors import with_promo_report
from payments.views import tax_document_html, tax_document_pdf_response

# The ledger admin links these entries to their order (keys made in payments.services).
for prefix in ["purchase:order", "bonus:order", "promo-bonus:order"]:
    register_entry_source(prefix=prefix, model=PaymentOrder, label="order")


@admin.register(CreditPackage)
class CreditPackageAdmin(ChangeReasonAdmin):
    # No list_editable: an edit from the list could not say why (every edit needs a reason).
    form = CreditPackageForm
    list_display = ["name", "price", "credits", "bonus_credits", "is_active", "sort_order"]

    @admin.display(description="Price", ordering="price_paise")
    def price(self, obj):
        return format_paise(obj.price_paise)


@admin.register(PromoCode)
class PromoCodeAdmin(ChangeReasonAdmin):
    form = PromoCodeForm
    list_display = [
        "code",
        "discount",
        "bonus_credits",
        "bonus_percent",
        "is_active",
        "valid_until",
        "uses",
        "discount_given",
        "bonus_granted",
        "revenue",
    ]
    list_filter = ["is_active", "discount_type"]
    search_fields = ["code", "description"]

    # The promo report: what each code cost and brought, from its paid orders.
    def get_queryset(self, request):
        return with_promo_report(super().get_queryset(request))

    @admin.display(description="Discount given", ordering="discount_given_paise")
    def discount_given(self, obj):
        return format_paise(obj.discount_given_paise)

    @admin.display(description="Bonus credits granted", ordering="bonus_granted")
    def bonus_granted(self, obj):
        return format_number(obj.bonus_granted)

    @admin.display(description="Revenue from its orders", ordering="revenue_paise")
    def revenue(self, obj):
        return format_paise(obj.revenue_paise)

    @admin.display(description="Discount", ordering="discount_value")
    def discount(self, obj):
        if obj.discount_type == PromoCode.Discount.FIXED:
            return format_paise(obj.discount_value)
        return f"{obj.discount_value}%"

    @admin.display(description="Uses (paid / reserved)")
    def uses(self, obj):
        statuses = list(obj.redemptions.values_list("status", flat=True))
        return f"{statuses.count('consumed')} / {statuses.count('reserved')}"


class PaymentEventInline(admin.TabularInline):
    model = PaymentEvent
    fields = ["created_at", "kind", "detail"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class PaymentAttemptInline(PaymentEventInline):
    model = PaymentAttempt
    fields = ["created_at", "razorpay_payment_id", "status", "amount", "error", "source"]
    readonly_fields = fields

    @admin.display(description="Amount")
    def amount(self, obj):
        return format_paise(obj.amount_paise)


class PaymentRefundInline(PaymentEventInline):
    model = PaymentRefund
    fields = [
        "created_at",
        "kind",
        "razorpay_id",
        "amount",
        "credits",
        "status",
        "reason",
        "requested_by",
        "last_error",
        "reversal_entry",
    ]
    readonly_fields = fields

    @admin.display(description="Amount")
    def amount(self, obj):
        return format_paise(obj.amount_paise)


class RefundForm(forms.Form):
    """How many of each selected order's refundable paid credits go back, and why."""

    reason = forms.CharField(max_length=200, help_text="Kept with the refund and its entries.")
    token = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, refundables=(), **kwargs):
        super().__init__(*args, **kwargs)
        for item in refundables:
            taxable, tax = item.value_of(item.credits)
            self.fields[f"credits_{item.order.pk}"] = forms.IntegerField(
                min_value=0,
                max_value=10**9,
                initial=0,
                label=f"Order #{item.order.pk} ({item.order.clinic}): credits to refund",
                help_text=f"Up to {item.credits:,} refundable paid credits, worth "
                f"{format_paise(taxable)} + {format_paise(tax)} GST.",
            )


class OverrunFilter(admin.SimpleListFilter):
    title = "promo overrun"
    parameter_name = "overrun"

    def lookups(self, request, model_admin):
        return [("open", "To review"), ("acknowledged", "Acknowledged")]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(promo_overrun_paise__gt=0, overrun_acknowledged_at=None)
        if self.value() == "acknowledged":
            return queryset.filter(promo_overrun_paise__gt=0).exclude(overrun_acknowledged_at=None)
        return queryset


@admin.register(PaymentOrder)
class PaymentOrderAdmin(BigListMixin, MoneyActionConfirmation, ReadOnlyAdmin):
    list_display = [
        "id",
        "created",
        "clinic",
        "amount",
        "total_credits",
        "status",
        "refunded",
        "overrun",
        "razorpay_order_id",
    ]
    list_filter = ["status", OverrunFilter, "created_at"]
    search_fields = ["clinic__name", "razorpay_order_id", "razorpay_payment_id"]
    list_select_related = ["clinic"]
    inlines = [PaymentAttemptInline, PaymentRefundInline, PaymentEventInline]
    actions = ["acknowledge_overrun", "refund_unused_credits"]

    # The order page shows every amount in rupees, in the field's place: no raw paise.
    RUPEES = {
        "base_amount_paise": "price",
        "discount_paise": "discount",
        "amount_paise": "amount",
        "gst_paise": "gst",
        "refunded_paise": "refunded",
        "promo_overrun_paise": "overrun",
    }

    def get_fields(self, request, obj=None):
        return [self.RUPEES.get(name, name) for name in super().get_fields(request, obj)]

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), *self.RUPEES.values()]

    @admin.display(description="Created (IST)", ordering="created_at")
    def created(self, obj):
        return format_ist_column(obj.created_at)

    @admin.display(description="Price", ordering="base_amount_paise")
    def price(self, obj):
        return format_paise(obj.base_amount_paise)

    @admin.display(description="Discount", ordering="discount_paise")
    def discount(self, obj):
        return format_paise(obj.discount_paise)

    @admin.display(description="GST", ordering="gst_paise")
    def gst(self, obj):
        return format_paise(obj.gst_paise)

    @admin.display(description="Amount (excl. GST)", ordering="amount_paise")
    def amount(self, obj):
        return format_paise(obj.amount_paise)

    @admin.display(description="Refunded", ordering="refunded_paise")
    def refunded(self, obj):
        return format_paise(obj.refunded_paise) if obj.refunded_paise else ""

    @admin.display(description="Promo overrun", ordering="promo_overrun_paise")
    def overrun(self, obj):
        if not obj.promo_overrun_paise:
            return ""
        state = "acknowledged" if obj.overrun_acknowledged_at else "to review"
        return f"{format_paise(obj.promo_overrun_paise)} ({state})"

    def has_refund_payments_permission(self, request):
        return request.user.has_perm("payments.refund_payments")

    @admin.action(permissions=["refund_payments"], description="Refund unused paid credits…")
    def refund_unused_credits(self, request, queryset):
        orders = list(
            queryset.filter(status=PaymentOrder.Status.PAID)
            .select_related("clinic__credit_account")
            .order_by("pk")
        )
        if not orders:
            self.message_user(request, "Choose paid orders to refund.", messages.WARNING)
            return None
        refundables = [selectors.refundable_credits(order=order) for order in orders]
        confirmed = self.money_action_confirmed(request)
        bound = confirmed or request.POST.get("stage") == "preview"
        form = RefundForm(
            request.POST if bound else None,
            initial={"token": uuid.uuid4()},
            refundables=refundables,
        )
        if confirmed and form.is_valid():
            self._refund(request, refundables, form.cleaned_data)
            return None
        if bound and form.is_valid():
            moves = []
            for item in refundables:
                credits = form.cleaned_data[f"credits_{item.order.pk}"]
                if not credits:
                    continue
                taxable, tax = item.value_of(credits)
                problem = (
                    f"only {item.credits:,} refundable: will be refused"
                    if credits > item.credits
                    else ""
                )
                moves.append(
                    MoneyMove(
                        clinic=item.order.clinic,
                        credits=-credits,
                        label=f"Order #{item.order.pk}: {format_paise(taxable)} + "
                        f"{format_paise(tax)} GST back to {item.order.razorpay_payment_id}",
                        problem=problem,
                    )
                )
            return self.confirm_money_action(
                request,
                action="refund_unused_credits",
                title="Refund unused paid credits",
                intro="The credits are taken out now; Razorpay refunds the money (GST "
                f"included) to the original payment. Reason: {form.cleaned_data['reason']}",
                moves=moves,
                selected=orders,
                form=form,
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Refund unused paid credits",
            "form": form,
            "orders": orders,
            "action": "refund_unused_credits",
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/payments/refund_form.html", context)

    def _refund(self, request, refundables, data):
        for item in refundables:
            credits = data[f"credits_{item.order.pk}"]
            if not credits:
                continue
            # One token per order, made from the form's: the same form sent twice, once.
            token = uuid.uuid5(data["token"], str(item.order.pk))
            try:
                row = refunds.start_refund(
                    order=item.order,
                    credits=credits,
                    reason=data["reason"],
                    actor=request.user,
                    token=token,
                )
            except AntidoteError as error:
                self.message_user(
                    request, f"Order #{item.order.pk}: refused. {error.message}", messages.ERROR
                )
                continue
            if row.status == PaymentRefund.Status.REQUESTED:
                self.message_user(
                    request,
                    f"Order #{item.order.pk}: refund #{row.pk} reserved {row.credits:,} credits "
                    f"but Razorpay did not answer ({row.last_error}); reconcile_payments or "
                    "this action's retry will ask again.",
                    messages.WARNING,
                )
            else:
                self.message_user(
                    request,
                    f"Order #{item.order.pk}: refund #{row.pk} of "
                    f"{format_paise(row.amount_paise)} for {row.credits:,} credits is "
                    f"{row.get_status_display().lower()}.",
                    messages.SUCCESS,
                )

    def has_acknowledge_promo_overrun_permission(self, request):
        return request.user.has_perm("payments.acknowledge_promo_overrun")

    @admin.action(
        permissions=["acknowledge_promo_overrun"],
        description="Acknowledge the promo overrun (reviewed; reconcile stops reporting it)",
    )
    def acknowledge_overrun(self, request, queryset):
        for order in queryset.order_by("pk"):
            try:
                services.acknowledge_promo_overrun(order=order, actor=request.user)
            except AntidoteError as error:
                self.message_user(request, f"Order #{order.pk}: {error}", messages.WARNING)
            else:
                self.message_user(request, f"Order #{order.pk}: overrun acknowledged.")


# Automatic top-up: read-only here. Money moves only through the clinic's rule and Razorpay's
# word; staff read the rules, the saved methods (no card number is ever stored) and attempts.


@admin.register(SavedPaymentMethod)
class SavedPaymentMethodAdmin(ReadOnlyAdmin):
    list_display = ["clinic", "method", "card_last4", "vpa", "status", "max_amount_paise"]
    list_filter = ["method", "status"]
    search_fields = ["clinic__name", "razorpay_customer_id", "razorpay_token_id"]


@admin.register(AutoTopUpRule)
class AutoTopUpRuleAdmin(ReadOnlyAdmin):
    list_display = [
        "clinic",
        "is_enabled",
        "threshold_credits",
        "top_up_early",
        "package",
        "amount_rupees",
        "monthly_max_paise",
        "monthly_max_count",
        "declines_in_a_row",
        "backoff_until",
        "disabled_reason",
    ]
    list_filter = ["is_enabled", "top_up_early"]
    search_fields = ["clinic__name"]


@admin.register(AutoTopUp)
class AutoTopUpAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "clinic",
        "status",
        "balance_at_trigger",
        "threshold_at_trigger",
        "charged_paise",
        "order",
        "razorpay_payment_id",
        "outcome",
    ]
    list_filter = ["status"]
    search_fields = ["clinic__name", "razorpay_payment_id", "outcome"]
    list_select_related = ["clinic", "order"]


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "event", "event_id", "result"]
    list_filter = ["event"]
    search_fields = ["event_id", "result"]


@admin.register(ClinicTaxDetails)
class ClinicTaxDetailsAdmin(HistoryAdmin):
    """The model's clean() checks the GSTIN (checksum, and the state it belongs to)."""

    list_display = ["clinic", "legal_name", "state_code", "gstin", "updated_at"]
    list_filter = ["state_code"]
    search_fields = ["clinic__name", "legal_name", "gstin"]


class MonthForm(forms.Form):
    month = forms.RegexField(
        regex=r"^[0-9]{4}-(0[1-9]|1[0-2])$",
        error_messages={"invalid": "Give a month as YYYY-MM."},
    )


@admin.register(TaxDocument)
class TaxDocumentAdmin(ReadOnlyAdmin):
    list_display = [
        "number",
        "kind",
        "issued_on",
        "recipient_legal_name",
        "recipient_gstin",
        "place_of_supply",
        "taxable",
        "tax",
        "total",
        "files",
    ]
    list_filter = ["kind", "financial_year", "issued_on"]
    search_fields = ["number", "recipient_legal_name", "recipient_gstin", "razorpay_payment_id"]
    list_select_related = ["order"]

    @admin.display(description="Taxable value", ordering="taxable_paise")
    def taxable(self, obj):
        return format_paise(obj.taxable_paise)

    @admin.display(description="GST")
    def tax(self, obj):
        return format_paise(obj.tax_paise)

    @admin.display(description="Total", ordering="total_paise")
    def total(self, obj):
        return format_paise(obj.total_paise)

    @admin.display(description="Document")
    def files(self, obj):
        return format_html(
            '<a href="{}">HTML</a> · <a href="{}">PDF</a>',
            reverse("admin:payments_taxdocument_html", args=[obj.pk]),
            reverse("admin:payments_taxdocument_pdf", args=[obj.pk]),
        )

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/html/",
                wrap(require_GET(self.html_view)),
                name="payments_taxdocument_html",
            ),
            path(
                "<int:pk>/pdf/", wrap(require_GET(self.pdf_view)), name="payments_taxdocument_pdf"
            ),
            path(
                "gst-report/",
                wrap(require_GET(self.report_view)),
                name="payments_taxdocument_report",
            ),
            *super().get_urls(),
        ]

    def _document(self, request, pk) -> TaxDocument:
        if not self.has_view_permission(request):
            raise PermissionDenied
        document = TaxDocument.objects.filter(pk=pk).first()
        if document is None:
            raise Http404("No such tax document.")
        return document

    def html_view(self, request, pk):
        pdf_url = reverse("admin:payments_taxdocument_pdf", args=[pk])
        return tax_document_html(request, self._document(request, pk), pdf_url=pdf_url)

    def pdf_view(self, request, pk):
        return tax_document_pdf_response(self._document(request, pk))

    def report_view(self, request):
        """The month's GST report, with the same totals the gst_report command writes."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = MonthForm(request.GET or None)
        report = None
        if form.is_valid():
            year, month = map(int, form.cleaned_data["month"].split("-"))
            report = selectors.gst_report(month=date(year, month, 1))
        context = {
            **self.admin_site.each_context(request),
            "title": "GST report",
            "form": form,
            "report": report,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/payments/gst_report.html", context)
