from django.contrib import admin

from antidote.admin_bases import HistoryAdmin, ReadOnlyAdmin
from antidote.money import format_paise
from billing.sources import register_entry_source
from payments.models import CreditPackage, PaymentEvent, PaymentOrder, PromoCode, WebhookEvent

# The ledger admin links these entries to their order (keys made in payments.services).
for prefix in ["purchase:order", "bonus:order", "promo-bonus:order"]:
    register_entry_source(prefix=prefix, model=PaymentOrder, label="order")


@admin.register(CreditPackage)
class CreditPackageAdmin(HistoryAdmin):
    list_display = ["name", "price", "credits", "bonus_credits", "is_active", "sort_order"]
    list_editable = ["is_active", "sort_order"]

    @admin.display(description="Price", ordering="price_paise")
    def price(self, obj):
        return format_paise(obj.price_paise)


@admin.register(PromoCode)
class PromoCodeAdmin(HistoryAdmin):
    list_display = [
        "code",
        "discount_type",
        "discount_value",
        "bonus_credits",
        "is_active",
        "valid_until",
        "uses",
    ]
    list_filter = ["is_active", "discount_type"]
    search_fields = ["code", "description"]

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


@admin.register(PaymentOrder)
class PaymentOrderAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "created_at",
        "clinic",
        "amount",
        "total_credits",
        "status",
        "razorpay_order_id",
    ]
    list_filter = ["status", "created_at"]
    search_fields = ["clinic__name", "razorpay_order_id", "razorpay_payment_id"]
    list_select_related = ["clinic"]
    inlines = [PaymentEventInline]

    @admin.display(description="Amount", ordering="amount_paise")
    def amount(self, obj):
        return format_paise(obj.amount_paise)


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "event", "event_id", "result"]
    list_filter = ["event"]
    search_fields = ["event_id", "result"]
