from django.contrib import admin

from antidote.admin import ReadOnlyAdmin
from antidote.money import format_paise
from billing.forms import CreditAccountSettingsForm
from billing.models import CreditAccount, CreditTransaction, PricingTier


@admin.register(PricingTier)
class PricingTierAdmin(admin.ModelAdmin):
    list_display = ["min_price_rupees", "credits", "label"]
    ordering = ["min_price_paise"]

    @admin.display(description="From (₹)", ordering="min_price_paise")
    def min_price_rupees(self, obj):
        return format_paise(obj.min_price_paise)


@admin.register(CreditAccount)
class CreditAccountAdmin(admin.ModelAdmin):
    form = CreditAccountSettingsForm
    list_display = ["clinic", "balance", "overdraft_limit", "low_balance_threshold", "updated_at"]
    search_fields = ["clinic__name", "clinic__slug"]
    readonly_fields = ["clinic", "balance", "updated_at"]
    fields = ["clinic", "balance", "overdraft_limit", "low_balance_threshold", "updated_at"]

    def has_add_permission(self, request):
        return False  # accounts are opened with their clinic

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CreditTransaction)
class CreditTransactionAdmin(ReadOnlyAdmin):
    """The ledger, read-only: corrections are new entries made through the services."""

    list_display = [
        "id",
        "created_at",
        "clinic",
        "kind",
        "credits",
        "balance_after",
        "lead",
        "actor",
        "memo",
    ]
    list_filter = ["kind", "created_at", "account__clinic"]
    search_fields = ["account__clinic__name", "idempotency_key", "memo"]
    list_select_related = ["account__clinic", "actor", "lead"]
    date_hierarchy = "created_at"

    @admin.display(description="Clinic", ordering="account__clinic__name")
    def clinic(self, obj):
        return obj.account.clinic
