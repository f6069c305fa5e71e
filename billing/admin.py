from fractions import Fraction

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from antidote.admin_bases import (
    BigListMixin,
    ChangeReasonAdmin,
    ReadOnlyAdmin,
    RefusalAsMessageMixin,
    one_clinic_filter,
    record_history_baseline,
)
from antidote.errors import AntidoteError
from antidote.money import format_paise
from billing import services
from billing.finance import finance_report, parse_month, report_rows
from billing.forms import CreditAccountAdminForm, PricingTierForm
from billing.models import CreditAccount, CreditLot, CreditTransaction, PricingTier
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

    form = CreditAccountAdminForm
    list_display = [
        "clinic",
        "balance",
        "overdraft_limit",
        "low_balance_threshold",
        "weekly_cap",
        "monthly_cap",
        "paused",
        "updated_at",
    ]
    search_fields = ["clinic__name", "clinic__slug"]
    readonly_fields = ["clinic", "balance", "updated_at"]
    fields = [
        "clinic",
        "balance",
        "overdraft_limit",
        "low_balance_threshold",
        *CreditAccountAdminForm.BUDGET_FIELDS,
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
        if set(CreditAccountAdminForm.BUDGET_FIELDS) & set(form.changed_data):
            services.set_budget(
                account=obj,
                actor=request.user,
                weekly_cap=data.get("weekly_cap"),
                monthly_cap=data.get("monthly_cap"),
                paused=bool(data.get("paused")),
                pause_until=data.get("pause_until"),
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
class CreditTransactionAdmin(BigListMixin, ReadOnlyAdmin):
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
    list_filter = ["kind", "created_at", one_clinic_filter("account__clinic")]
    search_fields = ["account__clinic__name", "idempotency_key", "memo"]
    list_select_related = ["account__clinic", "actor", "lead"]
    # No date_hierarchy: its year links take DISTINCT years and MIN/MAX over the whole ledger
    # (9 s with 5,000,000 rows); the created_at filter above narrows by date without a query.

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


class ExtendExpiryForm(forms.Form):
    expires_at = forms.DateTimeField(
        label="New expiry", help_text="Later than the lot's current expiry (business time)."
    )
    reason = forms.CharField(max_length=255, help_text="Kept on record with your name.")


class FinanceMonthForm(forms.Form):
    month = forms.CharField(
        max_length=7, help_text="YYYY-MM", widget=forms.TextInput(attrs={"size": 8})
    )

    def clean_month(self):
        try:
            return parse_month(self.cleaned_data["month"])
        except AntidoteError as error:
            raise forms.ValidationError(error.message) from None


@admin.register(CreditLot)
class CreditLotAdmin(ReadOnlyAdmin):
    """Lots are written only by billing's services; staff may extend a live lot's expiry."""

    list_display = ["id", "clinic", "kind", "granted", "remaining", "expires_at", "source_entry"]
    list_filter = ["kind", "expires_at"]
    search_fields = ["account__clinic__name", "memo"]
    list_select_related = ["account__clinic", "source"]
    fields = [
        "clinic",
        "kind",
        "granted",
        "remaining",
        "expires_at",
        "value",
        "source_entry",
        "restored_from",
        "memo",
        "created_at",
        "expiry_changes_made",
        "consumption",
    ]
    readonly_fields = fields
    actions = ["extend_expiry"]

    def has_adjust_credits_permission(self, request):
        return request.user.has_perm("billing.adjust_credits")

    @admin.display(description="Clinic", ordering="account__clinic__name")
    def clinic(self, lot):
        return lot.account.clinic

    @admin.display(description="Value")
    def value(self, lot):
        if lot.kind != CreditLot.LotKind.PAID:
            return "bonus: no rupee value"
        # A lot moved or restored from another keeps that lot's fraction; show its own credits.
        worth = Fraction(lot.value_paise * lot.granted, lot.value_credits)
        paise = (worth.numerator * 2 + worth.denominator) // (worth.denominator * 2)
        return f"{format_paise(paise)} for {lot.granted:,} paid credits"

    @admin.display(description="Source")
    def source_entry(self, lot):
        if lot.source_id is None:
            return "migrated, untraced"
        url = reverse("admin:billing_credittransaction_change", args=[lot.source_id])
        return format_html('<a href="{}">{}</a>', url, lot.source)

    @admin.display(description="Expiry changes")
    def expiry_changes_made(self, lot):
        changes = lot.expiry_changes.select_related("actor")
        if not changes:
            return "None."
        return format_html_join(
            "",
            "<div>{} by {}: {} → {} ({})</div>",
            (
                (
                    timezone.localtime(c.created_at).strftime("%d %b %Y"),
                    c.actor,
                    timezone.localtime(c.old_expires_at).strftime("%d %b %Y"),
                    timezone.localtime(c.new_expires_at).strftime("%d %b %Y"),
                    c.reason,
                )
                for c in changes
            ),
        )

    @admin.display(description="Consumption")
    def consumption(self, lot):
        rows = lot.allocations.select_related("entry").order_by("id")
        if not rows:
            return "Nothing drawn yet."
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    timezone.localtime(a.entry.created_at).strftime("%d %b %Y %H:%M"),
                    a.entry.get_kind_display(),
                    f"{-a.credits:+,}",
                    a.entry.memo,
                )
                for a in rows
            ),
        )
        return format_html(
            "<table><tr><th>When</th><th>Entry</th><th>Credits</th><th>Memo</th></tr>{}</table>",
            body,
        )

    @admin.action(permissions=["adjust_credits"], description="Extend expiry…")
    def extend_expiry(self, request, queryset):
        lots = list(queryset.select_related("account__clinic").order_by("pk"))
        form = ExtendExpiryForm(request.POST if request.POST.get("stage") == "apply" else None)
        if form.is_valid():
            for lot in lots:
                try:
                    services.extend_lot_expiry(
                        lot=lot,
                        expires_at=form.cleaned_data["expires_at"],
                        actor=request.user,
                        reason=form.cleaned_data["reason"],
                    )
                except AntidoteError as error:
                    self.message_user(
                        request, f"Lot #{lot.pk}: refused. {error.message}", messages.ERROR
                    )
                else:
                    day = timezone.localtime(lot.expires_at)
                    self.message_user(
                        request, f"Lot #{lot.pk}: now expires {day:%d %b %Y}.", messages.SUCCESS
                    )
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Extend expiry",
            "form": form,
            "lots": lots,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/billing/creditlot/extend_expiry.html", context)

    def get_urls(self):
        view = self.admin_site.admin_view(self.finance_view)
        return [
            path("finance/", view, name="billing_finance_report"),
            *super().get_urls(),
        ]

    def finance_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = FinanceMonthForm(
            request.GET or None, initial={"month": timezone.localdate().strftime("%Y-%m")}
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Finance report",
            "form": form,
        }
        if form.is_valid():
            report = finance_report(month=form.cleaned_data["month"])
            context.update(
                month=form.cleaned_data["month"],
                rows=report_rows(report),
                identity_ok=not report.identity_gap(),
            )
        return TemplateResponse(request, "admin/billing/finance_report.html", context)
