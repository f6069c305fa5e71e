from django.contrib import admin, messages

from antidote.admin_bases import ChangeReasonAdmin, ReadOnlyAdmin
from antidote.errors import AntidoteError
from antidote.money import format_paise
from billing.sources import register_entry_source
from payments import services
from payments.forms import CreditPackageForm, PromoCodeForm
from payments.models import (
    CreditPackage,
    PaymentAttempt,
    PaymentEvent,
    PaymentOrder,
    PaymentRefund,
    PromoCode,
    WebhookEvent,
)

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
        "is_active",
        "valid_until",
        "uses",
    ]
    list_filter = ["is_active", "discount_type"]
    search_fields = ["code", "description"]

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
    fields = ["created_at", "kind", "razorpay_id", "amount", "status", "reversal_entry"]
    readonly_fields = fields

    @admin.display(description="Amount")
    def amount(self, obj):
        return format_paise(obj.amount_paise)


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
class PaymentOrderAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "created_at",
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
    actions = ["acknowledge_overrun"]

    # The order page shows every amount in rupees, in the field's place: no raw paise.
    RUPEES = {
        "base_amount_paise": "price",
        "discount_paise": "discount",
        "amount_paise": "amount",
        "refunded_paise": "refunded",
        "promo_overrun_paise": "overrun",
    }

    def get_fields(self, request, obj=None):
        return [self.RUPEES.get(name, name) for name in super().get_fields(request, obj)]

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), *self.RUPEES.values()]

    @admin.display(description="Price", ordering="base_amount_paise")
    def price(self, obj):
        return format_paise(obj.base_amount_paise)

    @admin.display(description="Discount", ordering="discount_paise")
    def discount(self, obj):
        return format_paise(obj.discount_paise)

    @admin.display(description="Amount", ordering="amount_paise")
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


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "event", "event_id", "result"]
    list_filter = ["event"]
    search_fields = ["event_id", "result"]
