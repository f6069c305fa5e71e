from django.contrib import admin

from antidote.money import format_paise
from leads.models import Lead, Package


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
