from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from antidote.admin_bases import (
    ChangeReasonAdmin,
    ReadOnlyAdmin,
    RefusalAsMessageMixin,
    record_history_baseline,
)
from antidote.errors import AntidoteError
from antidote.money import format_paise
from billing import services
from billing.forms import CreditAccountSettingsForm, PricingTierForm
from billing.models import CreditAccount, CreditTransaction, PricingTier
from billing.sources import entry_source


@admin.register(PricingTier)
class PricingTierAdmin(ChangeReasonAdmin):
    form = PricingTierForm
    list_display = ["min_price_rupees", "credits", "label"]
    ordering = ["min_price_paise"]

    @admin.display(description="From (₹)", ordering="min_price_paise")
    def min_price_rupees(self, obj):
        return format_paise(obj.min_price_paise)


@admin.register(CreditAccount)
class CreditAccountAdmin(RefusalAsMessageMixin, ChangeReasonAdmin):
    """Account settings only. Saves, reverts included, go through
    ``services.update_account_settings``, which locks the row and writes only the settings, so
    a charge posted while the form was open is never overwritten."""

    form = CreditAccountSettingsForm
    list_display = ["clinic", "balance", "overdraft_limit", "low_balance_threshold", "updated_at"]
    search_fields = ["clinic__name", "clinic__slug"]
    readonly_fields = ["clinic", "balance", "updated_at"]
    fields = [
        "clinic",
        "balance",
        "overdraft_limit",
        "low_balance_threshold",
        "updated_at",
        "change_reason",
    ]

    def has_add_permission(self, request):
        return False  # accounts are opened with their clinic

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        record_history_baseline(obj)
        data = form.cleaned_data
        services.update_account_settings(
            account=obj,
            actor=request.user,
            overdraft_limit=data.get("overdraft_limit"),
            low_balance_threshold=data.get("low_balance_threshold"),
            reason=data.get("change_reason") or "",
        )

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        try:
            with transaction.atomic():
                return super().history_form_view(request, object_id, version_id, extra_context)
        except AntidoteError as error:
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


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
        "caused_by",
        "actor_link",
        "memo",
    ]
    list_filter = ["kind", "created_at", "account__clinic"]
    search_fields = ["account__clinic__name", "idempotency_key", "memo"]
    list_select_related = ["account__clinic", "actor", "lead"]
    date_hierarchy = "created_at"

    @admin.display(description="Clinic", ordering="account__clinic__name")
    def clinic(self, obj):
        return self._link(obj.account.clinic, str(obj.account.clinic))

    @admin.display(description="Caused by")
    def caused_by(self, obj):
        """The lead behind the entry, and the row of whichever app registered its key's prefix
        (orders, disputes: see ``billing.sources``)."""
        links = []
        if obj.lead_id:
            lead_model = CreditTransaction._meta.get_field("lead").related_model
            links.append(self._link_to(lead_model, obj.lead_id, f"lead #{obj.lead_id}"))
        source = entry_source(idempotency_key=obj.idempotency_key)
        if source:
            links.append(self._link_to(source.model, source.pk, f"{source.label} #{source.pk}"))
        links = [link for link in links if link]
        return format_html(" · ".join(["{}"] * len(links)), *links) if links else "—"

    @admin.display(description="By", ordering="actor__username")
    def actor_link(self, obj):
        if obj.actor_id is None:
            return "system"
        return self._link(obj.actor, str(obj.actor))

    def _link(self, instance, text):
        return self._link_to(type(instance), instance.pk, text)

    def _link_to(self, model, pk, text):
        """A link to ``model``'s admin change page by its URL name, when the site has one."""
        if not self.admin_site.is_registered(model):
            return text
        opts = model._meta
        url = reverse(
            f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_change", args=[pk]
        )
        return format_html('<a href="{}">{}</a>', url, text)
