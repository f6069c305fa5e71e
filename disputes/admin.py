"""The dispute review queue. Decisions are admin actions that call the dispute services one
dispute at a time and report each result; money moves only through billing, and only after
a confirmation page that shows what each approval refunds, per clinic and in all."""

from datetime import timedelta

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import Case, When
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from antidote.admin_bases import (
    BigListMixin,
    MoneyActionConfirmation,
    MoneyMove,
    change_urls,
    one_clinic_filter,
)
from antidote.errors import AntidoteError
from antidote.money import format_number
from antidote.when import format_ist, format_ist_column
from billing.selectors import refundable_credits
from billing.sources import register_entry_source
from disputes import services
from disputes.forms import PartialRefundForm, RejectForm
from disputes.models import Dispute, DisputeEvent
from disputes.selectors import dispute_rate_by_package, quality_scores
from leads.selectors import lead_contact

# The ledger admin links a refund to its dispute (key made in disputes.services).
register_entry_source(prefix="refund:dispute", model=Dispute, label="dispute")


class AgeFilter(admin.SimpleListFilter):
    title = "age"
    parameter_name = "age"

    def lookups(self, request, model_admin):
        return [("1", "Under a day"), ("3", "1–3 days"), ("old", "Over 3 days")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "1":
            return queryset.filter(created_at__gte=now - timedelta(days=1))
        if self.value() == "3":
            return queryset.filter(
                created_at__lt=now - timedelta(days=1), created_at__gte=now - timedelta(days=3)
            )
        if self.value() == "old":
            return queryset.filter(created_at__lt=now - timedelta(days=3))
        return queryset


class DisputeEventInline(admin.TabularInline):
    model = DisputeEvent
    verbose_name_plural = "Audit trail"
    fields = ["created_at", "action", "actor", "notes"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("disputes.view_dispute")  # the trail is part of the dispute


@admin.register(Dispute)
class DisputeAdmin(BigListMixin, MoneyActionConfirmation, admin.ModelAdmin):
    list_display = [
        "id",
        "opened",
        "clinic",
        "lead_link",
        "dispute_type",
        "status",
        "age",
        "clinic_quality",
        "evidence_count",
    ]
    list_filter = ["status", "dispute_type", one_clinic_filter("clinic"), AgeFilter]
    search_fields = ["clinic__name", "lead__phone", "=lead__id", "=id"]
    list_select_related = ["clinic", "lead"]
    # The queue: pending disputes first, oldest first (the longest wait is decided first); then
    # the decided ones, oldest first too. See get_ordering.
    ordering = ["created_at"]
    actions = ["approve_full", "approve_partial", "reject"]
    inlines = [DisputeEventInline]
    fields = [
        "clinic",
        "lead_details",
        "dispute_type",
        "description",
        "evidence_links",
        "status",
        "refund_credits",
        "refund_entry",
        "admin_notes",
        "auto_reason",
        "decided_by",
        "decided_at",
        "created_at",
        "clinic_quality",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # decisions are actions with their own permission

    def has_delete_permission(self, request, obj=None):
        return False

    def has_decide_permission(self, request):
        return request.user.has_perm("disputes.decide_dispute")

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "package_rates": dispute_rate_by_package(limit=10),
            # The queue's nine columns and its filters fill a 1,280 px screen; the site-wide
            # app list beside them would push the status and quality columns out of view.
            "is_nav_sidebar_enabled": False,
        }
        return super().changelist_view(request, extra_context)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("evidence")

    def get_ordering(self, request):
        pending_first = Case(When(status=Dispute.Status.PENDING, then=0), default=1)
        return [pending_first.asc(), "created_at", "pk"]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        dispute = self.get_object(request, unquote(object_id))
        if dispute is not None:
            title = (
                f"Dispute #{dispute.pk}: lead #{dispute.lead_id} of {dispute.clinic} · "
                f"{dispute.get_status_display()}"
            )
            extra_context = {**(extra_context or {}), "title": title, "subtitle": None}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="Opened (IST)", ordering="created_at")
    def opened(self, obj):
        return format_ist_column(obj.created_at)

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        # One query for the page's clinics; the scores ride on this request's objects, as do
        # the leads' links (one reverse() for the page).
        scores = quality_scores(clinic_ids={d.clinic_id for d in changelist.result_list})
        lead_url = change_urls("admin:leads_lead_change", current_app=self.admin_site.name)
        for dispute in changelist.result_list:
            dispute.quality = scores[dispute.clinic_id]
            dispute.lead_url = lead_url(dispute.lead_id)
        return changelist

    @admin.display(description="Lead", ordering="lead_id")
    def lead_link(self, obj):
        url = getattr(obj, "lead_url", None) or reverse(
            "admin:leads_lead_change", args=[obj.lead_id]
        )
        return format_html('<a href="{}">#{}</a> {}', url, obj.lead_id, obj.lead.phone)

    @admin.display(description="Age")
    def age(self, obj):
        days = (timezone.now() - obj.created_at).days
        return "today" if days == 0 else f"{days} d"

    @admin.display(description="Clinic quality")
    def clinic_quality(self, obj):
        # The list scores its page in one query (get_changelist_instance); the change page has
        # one dispute, so one query there.
        score = (
            getattr(obj, "quality", None)
            or quality_scores(clinic_ids=[obj.clinic_id])[obj.clinic_id]
        )
        return f"{score.rating} ({score.disputes}/{score.leads} leads, {score.rate_percent}%)"

    @admin.display(description="Evidence")
    def evidence_count(self, obj):
        return len(obj.evidence.all())

    @admin.display(description="Evidence")
    def evidence_links(self, obj):
        files = obj.evidence.all()
        if not files:
            return "—"
        return format_html_join(
            ", ",
            '<a href="{}" target="_blank">{}</a>',
            ((reverse("disputes:evidence", args=[e.pk]), e.original_name) for e in files),
        )

    @admin.display(description="Lead")
    def lead_details(self, obj):
        lead, contact = obj.lead, lead_contact(obj.lead)
        return format_html(
            "#{} · {} · {} · {} · {} credits, charged {} · received {}",
            lead.pk,
            contact.name,
            contact.phone,
            lead.package or "General enquiry",
            format_number(lead.price_credits),
            format_ist(lead.charged_at),
            format_ist(lead.created_at),
        )

    def _each(self, request, queryset, decide):
        for dispute in queryset:
            try:
                decided = decide(dispute)
            except AntidoteError as error:
                self.message_user(
                    request, f"Dispute #{dispute.pk}: {error.message}", messages.ERROR
                )
            else:
                self.message_user(
                    request,
                    f"Dispute #{decided.pk}: {decided.get_status_display()}.",
                    messages.SUCCESS,
                )

    def _refund_moves(self, disputes, amounts=None) -> list[MoneyMove]:
        """What approving each dispute would refund: all that is left of its lead's charge,
        or the amount asked (``amounts`` by dispute id). The service decides again, under
        its locks, when the page is confirmed."""
        left = refundable_credits(lead_ids=[d.lead_id for d in disputes])
        moves = []
        for dispute in disputes:
            refundable = left[dispute.lead_id]
            credits = refundable if amounts is None else amounts[dispute.pk]
            problem = ""
            if dispute.status != Dispute.Status.PENDING:
                problem = f"already {dispute.get_status_display().lower()}: will be refused"
            elif refundable == 0:
                problem = "nothing left to refund: will be refused"
            elif credits > refundable:
                problem = f"at most {format_number(refundable)} can be refunded: will be refused"
            moves.append(
                MoneyMove(
                    clinic=dispute.clinic,
                    credits=credits,
                    label=f"Dispute #{dispute.pk}, lead #{dispute.lead_id}",
                    problem=problem,
                )
            )
        return moves

    def _selected(self, queryset):
        return list(
            queryset.select_related("lead", "clinic__credit_account").order_by("clinic", "pk")
        )

    @admin.action(permissions=["decide"], description="Approve with full refund…")
    def approve_full(self, request, queryset):
        disputes = self._selected(queryset)
        if self.money_action_confirmed(request):
            self._each(
                request,
                disputes,
                lambda d: services.approve_dispute(dispute=d, actor=request.user),
            )
            return None
        return self.confirm_money_action(
            request,
            action="approve_full",
            title="Approve with full refund",
            intro="Each approval refunds what is left of the lead's charge to its clinic.",
            moves=self._refund_moves(disputes),
            selected=disputes,
        )

    @admin.action(permissions=["decide"], description="Approve with partial refund…")
    def approve_partial(self, request, queryset):
        disputes = self._selected(queryset)
        asked = "apply" in request.POST
        forms = {
            d.pk: PartialRefundForm(request.POST if asked else None, prefix=str(d.pk))
            for d in disputes
        }
        if not (asked and all(f.is_valid() for f in forms.values())):
            return self._intermediate(
                request,
                "partial_refund.html",
                "approve_partial",
                [(d, forms[d.pk]) for d in disputes],
            )
        amounts = {pk: form.cleaned_data["credits"] for pk, form in forms.items()}
        if self.money_action_confirmed(request):
            self._each(
                request,
                disputes,
                lambda d: services.approve_dispute(
                    dispute=d, actor=request.user, refund_credits=amounts[d.pk]
                ),
            )
            return None
        return self.confirm_money_action(
            request,
            action="approve_partial",
            title="Approve with partial refund",
            intro="Each approval refunds the amount you gave to the lead's clinic.",
            moves=self._refund_moves(disputes, amounts),
            selected=disputes,
            hidden={"apply": "1", **{f"{pk}-credits": n for pk, n in amounts.items()}},
        )

    @admin.action(permissions=["decide"], description="Reject…")
    def reject(self, request, queryset):
        form = RejectForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            notes = form.cleaned_data["notes"]
            self._each(
                request,
                queryset,
                lambda d: services.reject_dispute(dispute=d, actor=request.user, notes=notes),
            )
            return None
        return self._intermediate(request, "reject.html", "reject", list(queryset), form=form)

    def _intermediate(self, request, template, action, items, **extra):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Approve with partial refund"
            if action == "approve_partial"
            else "Reject disputes",
            "action": action,
            "items": items,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            **extra,
        }
        return TemplateResponse(request, f"admin/disputes/dispute/{template}", context)
