"""The clinic page of the back office: money, leads and disputes in one place, and the credit
actions. It spans the apps, so it lives in the project package rather than in leads."""

import uuid

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, F, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from antidote.admin_bases import (
    BigListMixin,
    MoneyActionConfirmation,
    MoneyMove,
    ReadOnlyInline,
    RefusalAsMessageMixin,
    record_history_baseline,
    yes_no_icon,
)
from antidote.errors import AntidoteError
from antidote.money import format_number, format_signed
from antidote.when import format_ist
from billing import services as billing
from billing.forms import CreditAccountSettingsForm
from billing.models import CreditAccount, Kind
from billing.selectors import entry_exists
from disputes.models import Dispute
from disputes.selectors import quality_scores
from leads.models import Clinic, ClinicMember, Lead


class CreditAccountInline(admin.StackedInline):
    model = CreditAccount
    form = CreditAccountSettingsForm
    fields = [
        "balance",
        "overdraft_limit",
        "low_balance_threshold",
        "change_reason",
        "credit_lots",
        "recent_ledger",
    ]
    readonly_fields = ["balance", "credit_lots", "recent_ledger"]
    can_delete = False
    extra = 0
    max_num = 1

    def has_add_permission(self, request, obj=None):
        return False  # opened with the clinic (billing.receivers)

    @admin.display(description="Credit lots")
    def credit_lots(self, account):
        lots = account.lots.filter(has_credits=True).order_by("expires_at", "kind", "id")[:20]
        if not lots:
            return "No credits left in any lot."
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">#{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:billing_creditlot_change", args=[lot.pk]),
                    lot.pk,
                    lot.get_kind_display(),
                    f"{lot.granted:,}",
                    f"{lot.remaining:,}",
                    lot.expires_at.strftime("%d %b %Y"),
                )
                for lot in lots
            ),
        )
        url = reverse("admin:billing_creditlot_changelist")
        return format_html(
            "<table><tr><th>Lot</th><th>Kind</th><th>Granted</th><th>Left</th><th>Expires</th>"
            '</tr>{}</table><a href="{}?account__clinic__id__exact={}">All lots</a> · '
            '<a href="{}">Finance report</a>',
            rows,
            url,
            account.clinic_id,
            reverse("admin:billing_finance_report"),
        )

    @admin.display(description="Recent ledger")
    def recent_ledger(self, account):
        entries = account.entries.order_by("-id")[:10]
        if not entries:
            return "No entries yet."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    format_ist(e.created_at),
                    e.get_kind_display(),
                    f"{format_signed(e.credits)}",
                    f"{format_number(e.balance_after)}",
                    e.memo,
                )
                for e in entries
            ),
        )
        url = reverse("admin:billing_credittransaction_changelist")
        return format_html(
            "<table><tr><th>When</th><th>What</th><th>Credits</th><th>Balance</th><th>Memo</th></tr>"
            '{}</table><a href="{}?account__clinic__id__exact={}">All entries</a>',
            rows,
            url,
            account.clinic_id,
        )


class ClinicMemberInline(ReadOnlyInline):
    """The team, to read: members are added, changed and removed in their own admin, through
    the services that keep the last-owner rule and record who did it."""

    model = ClinicMember
    fields = ["user", "role"]
    readonly_fields = ["user", "role"]


class BelowThresholdFilter(admin.SimpleListFilter):
    title = "balance"
    parameter_name = "below_threshold"

    def lookups(self, request, model_admin):
        return [("yes", "Below alert level"), ("negative", "Negative")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(
                credit_account__balance__lt=F("credit_account__low_balance_threshold")
            )
        if self.value() == "negative":
            return queryset.filter(credit_account__balance__lt=0)
        return queryset


class AdjustForm(forms.Form):
    credits = forms.IntegerField(
        help_text="Signed: 500 adds credits, -500 removes them.",
        min_value=-billing.MAX_ENTRY_CREDITS,
        max_value=billing.MAX_ENTRY_CREDITS,
    )
    reason = forms.CharField(max_length=255, help_text="Kept on the ledger with your name.")
    token = forms.UUIDField(widget=forms.HiddenInput)

    def clean_credits(self):
        if self.cleaned_data["credits"] == 0:
            raise forms.ValidationError("An adjustment of zero changes nothing.")
        return self.cleaned_data["credits"]


class BonusForm(AdjustForm):
    credits = forms.IntegerField(
        min_value=1, max_value=billing.MAX_ENTRY_CREDITS, label="Bonus credits"
    )


def _per_clinic_count(rows):
    """A clinic's count of ``rows``, as a subquery PostgreSQL runs for the clinics on the page
    only. Counting through joins grouped every lead and dispute of every clinic first (and the
    city filter's DISTINCT did it again): over 40 s at 5,000,000 rows."""
    counted = rows.filter(clinic=OuterRef("pk")).order_by().values("clinic")
    return Coalesce(Subquery(counted.annotate(n=Count("pk")).values("n")), 0)


class ClinicForm(forms.ModelForm):
    class Meta:
        model = Clinic
        fields = ["name", "slug", "city", "contact_email", "is_active", "organisation"]

    def clean_organisation(self):
        """A clinic is a location of one organisation at a time: it leaves one (save with the
        field empty) before it joins another."""
        old = self.instance.organisation if self.instance.pk else None
        new = self.cleaned_data["organisation"]
        if old is not None and new is not None and new != old:
            raise forms.ValidationError(
                f"{self.instance} is already a location of {old}. Remove it from {old} (save "
                f"with this field empty) before it joins {new}."
            )
        return new


@admin.register(Clinic)
class ClinicAdmin(BigListMixin, MoneyActionConfirmation, RefusalAsMessageMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "city",
        "active",
        "balance",
        "overdraft",
        "alert_level",
        "lead_count",
        "dispute_count",
        "quality",
    ]
    list_filter = ["is_active", "city", BelowThresholdFilter]
    search_fields = ["name", "slug", "city", "contact_email"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [CreditAccountInline, ClinicMemberInline]
    list_select_related = ["credit_account"]
    actions = ["adjust_credits", "grant_bonus"]
    autocomplete_fields = ["organisation"]
    form = ClinicForm

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                lead_total=_per_clinic_count(Lead.objects.all()),
                dispute_total=_per_clinic_count(Dispute.objects.exclude(status="cancelled")),
            )
        )

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        scores = quality_scores(clinic_ids=[c.pk for c in changelist.result_list])
        for clinic in changelist.result_list:
            clinic.score = scores[clinic.pk]
        return changelist

    def save_formset(self, request, form, formset, change):
        if formset.model is not CreditAccount:
            return super().save_formset(request, form, formset, change)
        # Account settings go through billing, which locks the row and writes only them: a
        # plain formset.save() would write back the balance read when the page was posted.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for account_form in formset.initial_forms:
            if account_form.has_changed():
                record_history_baseline(account_form.instance)
                billing.update_account_settings(
                    account=account_form.instance,
                    actor=request.user,
                    overdraft_limit=account_form.cleaned_data["overdraft_limit"],
                    low_balance_threshold=account_form.cleaned_data["low_balance_threshold"],
                    reason=account_form.cleaned_data["change_reason"],
                )
                formset.changed_objects.append((account_form.instance, account_form.changed_data))
        return None

    def has_adjust_credits_permission(self, request):
        return request.user.has_perm("billing.adjust_credits")

    @admin.display(description="Is active", ordering="is_active")
    def active(self, obj):
        return yes_no_icon(obj.is_active)

    @admin.display(description="Balance", ordering="credit_account__balance")
    def balance(self, obj):
        return f"{format_number(obj.credit_account.balance)}"

    @admin.display(description="Overdraft", ordering="credit_account__overdraft_limit")
    def overdraft(self, obj):
        return f"{format_number(obj.credit_account.overdraft_limit)}"

    @admin.display(description="Alert below", ordering="credit_account__low_balance_threshold")
    def alert_level(self, obj):
        return f"{format_number(obj.credit_account.low_balance_threshold)}"

    @admin.display(description="Leads", ordering="lead_total")
    def lead_count(self, obj):
        return obj.lead_total

    @admin.display(description="Disputes", ordering="dispute_total")
    def dispute_count(self, obj):
        return obj.dispute_total

    @admin.display(description="Quality")
    def quality(self, obj):
        score = getattr(obj, "score", None) or quality_scores(clinic_ids=[obj.pk])[obj.pk]
        return f"{score.rating} ({score.rate_percent}%)" if score.leads else score.rating

    # Credit actions: a form, a confirmation with balances before and after, then one service
    # call per clinic. The form's token makes each clinic's entry key, so submitting twice
    # posts nothing more.

    @admin.action(permissions=["adjust_credits"], description="Adjust credits…")
    def adjust_credits(self, request, queryset):
        return self._credit_action(
            request, queryset, AdjustForm, "adjust_credits", "Adjust credits"
        )

    @admin.action(permissions=["adjust_credits"], description="Grant bonus credits…")
    def grant_bonus(self, request, queryset):
        return self._credit_action(
            request, queryset, BonusForm, "grant_bonus", "Grant bonus credits"
        )

    def _credit_action(self, request, queryset, form_class, action, title):
        clinics = list(queryset.select_related("credit_account").order_by("name"))
        confirmed = self.money_action_confirmed(request)
        bound = confirmed or request.POST.get("stage") == "preview"
        form = form_class(request.POST if bound else None, initial={"token": uuid.uuid4()})
        if confirmed and form.is_valid():
            self._apply(request, clinics, action, **form.cleaned_data)
            return None
        if bound and form.is_valid():
            credits, reason = form.cleaned_data["credits"], form.cleaned_data["reason"]
            moves = []
            for clinic in clinics:
                floor = clinic.credit_account.floor
                problem = "" if clinic.is_active else "inactive clinic: will be refused"
                # Only a debit is refused below the floor; a credit always posts.
                if not problem and credits < 0 and clinic.credit_account.balance + credits < floor:
                    problem = f"below its floor of {format_number(floor)}: will be refused"
                moves.append(
                    MoneyMove(clinic=clinic, credits=credits, label=title, problem=problem)
                )
            return self.confirm_money_action(
                request,
                action=action,
                title=title,
                intro="Check each clinic's balance before and after, then confirm. Every entry "
                f"records you and your reason: {reason}",
                moves=moves,
                selected=clinics,
                form=form,
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "form": form,
            "clinics": clinics,
            "action": action,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/leads/clinic/credit_action.html", context)

    def _apply(self, request, clinics, action, credits, reason, token):
        for clinic in clinics:
            key = f"{'adjust' if action == 'adjust_credits' else 'bonus'}:{token}:{clinic.pk}"
            if entry_exists(idempotency_key=key):
                self.message_user(
                    request,
                    f"{clinic}: already done (the form was sent twice); nothing more posted.",
                    messages.WARNING,
                )
                continue
            try:
                if action == "adjust_credits":
                    entry = billing.adjust_credits(
                        clinic=clinic,
                        credits=credits,
                        actor=request.user,
                        reason=reason,
                        idempotency_key=key,
                    )
                else:
                    entry = billing.grant_credits(
                        clinic=clinic,
                        credits=credits,
                        kind=Kind.BONUS,
                        actor=request.user,
                        memo=reason,
                        idempotency_key=key,
                    )
            except AntidoteError as error:
                self.message_user(request, f"{clinic}: refused. {error.message}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"{clinic}: {format_signed(entry.credits)} credits, balance now "
                    f"{format_number(entry.balance_after)}.",
                    messages.SUCCESS,
                )
