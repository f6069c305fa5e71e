from django.contrib import admin

from antidote.money import format_paise
from billing.forms import CreditAccountSettingsForm
from billing.models import CreditAccount
from leads.models import Clinic, ClinicMember, Lead, Package


class CreditAccountInline(admin.StackedInline):
    model = CreditAccount
    form = CreditAccountSettingsForm
    fields = ["balance", "overdraft_limit", "low_balance_threshold"]
    readonly_fields = ["balance"]
    can_delete = False
    extra = 0
    max_num = 1


class ClinicMemberInline(admin.TabularInline):
    model = ClinicMember
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Clinic)
class ClinicAdmin(admin.ModelAdmin):
    list_display = ["name", "city", "contact_email", "is_active", "balance"]
    list_filter = ["is_active", "city"]
    search_fields = ["name", "slug", "city", "contact_email"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [CreditAccountInline, ClinicMemberInline]
    list_select_related = ["credit_account"]

    @admin.display(description="Balance", ordering="credit_account__balance")
    def balance(self, obj):
        return obj.credit_account.balance


@admin.register(Package)
class PackageAdmin(admin.ModelAdmin):
    list_display = ["name", "clinic", "price_rupees", "is_active"]
    list_filter = ["is_active", "clinic"]
    search_fields = ["name", "clinic__name"]

    @admin.display(description="Price", ordering="price_paise")
    def price_rupees(self, obj):
        return format_paise(obj.price_paise)


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "created_at",
        "clinic",
        "package",
        "status",
        "billing_state",
        "price_credits",
    ]
    list_filter = ["status", "billing_state", "clinic"]
    search_fields = ["id", "phone", "patient_name", "clinic__name"]
    list_select_related = ["clinic", "package"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "clinic",
        "package",
        "billing_state",
        "package_price_paise",
        "tier_min_price_paise",
        "price_credits",
        "duplicate_of",
        "created_at",
        "charged_at",
        "technical_error",
    ]

    actions = ["mark_technical_error"]

    def has_add_permission(self, request):
        return False  # leads arrive through the enquiry form, which bills them

    @admin.action(permissions=["change"], description="Mark as technical error at the source")
    def mark_technical_error(self, request, queryset):
        marked = queryset.filter(technical_error=False).update(technical_error=True)
        self.message_user(
            request, f"{marked} lead(s) marked; disputes opened on them are approved automatically."
        )
