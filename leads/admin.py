from django import forms
from django.contrib import admin, messages
from django.db import models
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from antidote.admin_bases import (
    BigListMixin,
    HistoryAdmin,
    NoRevertMixin,
    ReadOnlyInline,
    RefusalAsMessageMixin,
    one_clinic_filter,
    yes_no_icon,
)
from antidote.errors import AntidoteError
from antidote.money import format_number, format_paise
from antidote.when import format_ist_column
from billing.selectors import lead_net_charge
from billing.sources import register_entry_source
from leads import services
from leads.models import (
    Clinic,
    ClinicMember,
    Invitation,
    Lead,
    Organisation,
    OrganisationMember,
    Package,
)

register_entry_source(prefix="refund:technical-error:lead", model=Lead, label="lead")


class LocationInline(ReadOnlyInline):
    """The chain's locations, to read: a clinic joins or leaves on its own page."""

    model = Clinic
    verbose_name_plural = "Locations"
    fields = ["name", "city", "is_active", "balance"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("credit_account")

    @admin.display(description="Balance")
    def balance(self, obj):
        return format_number(obj.credit_account.balance)


class OrganisationMemberInline(admin.TabularInline):
    model = OrganisationMember
    fields = ["user", "role"]
    autocomplete_fields = ["user"]
    extra = 0


@admin.register(Organisation)
class OrganisationAdmin(HistoryAdmin):
    list_display = ["name", "location_count", "created_at"]
    search_fields = ["name"]
    ordering = ["name"]  # the count's GROUP BY drops Meta.ordering; the autocomplete pages
    inlines = [LocationInline, OrganisationMemberInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(locations=models.Count("clinics"))

    @admin.display(description="Locations", ordering="locations")
    def location_count(self, obj):
        return obj.locations


@admin.register(Package)
class PackageAdmin(admin.ModelAdmin):
    list_display = ["name", "clinic", "price_rupees", "is_active"]
    list_filter = ["is_active", one_clinic_filter("clinic")]
    search_fields = ["name", "clinic__name"]

    @admin.display(description="Price", ordering="price_paise")
    def price_rupees(self, obj):
        return format_paise(obj.price_paise)


class TechnicalErrorForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What went wrong at the source. Kept in each lead's history with your name.",
    )


# A lead's billing changes only through its services; no old version is ever saved back
# (the history also leaves the patient's details out, so a revert would blank them).
@admin.register(Lead)
class LeadAdmin(BigListMixin, NoRevertMixin, HistoryAdmin):
    list_display = [
        "id",
        "received",
        "clinic",
        "package",
        "status",
        "billing_state",
        "price_credits",
        "technical_error_icon",
    ]
    list_filter = [
        "status",
        "billing_state",
        "technical_error",
        "archived",
        "created_at",  # not date_hierarchy: DISTINCT years over every lead on each load
        one_clinic_filter("clinic"),
    ]
    search_fields = ["id", "phone", "patient_name", "clinic__name"]
    list_select_related = ["clinic", "package__clinic"]  # a package names its clinic
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
        # The clinic's own workflow, changed through its services: an admin select would
        # offer every clinic's members.
        "assigned_to",
        "archived",
    ]

    actions = ["flag_technical_error"]

    def has_add_permission(self, request):
        return False  # leads arrive through the enquiry form, which bills them

    @admin.display(description="Received (IST)", ordering="created_at")
    def received(self, obj):
        return format_ist_column(obj.created_at)

    @admin.display(description="Technical error", ordering="technical_error")
    def technical_error_icon(self, obj):
        return yes_no_icon(obj.technical_error)

    def has_flag_technical_error_permission(self, request):
        return request.user.has_perm("leads.flag_technical_error")

    @admin.action(
        permissions=["flag_technical_error"], description="Flag as technical error at the source…"
    )
    def flag_technical_error(self, request, queryset):
        chosen = list(
            queryset.select_related("clinic")
            .annotate(net_charge=lead_net_charge())
            .order_by("clinic__name", "created_at", "pk")
        )
        form = TechnicalErrorForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            for lead in chosen:
                try:
                    flag = services.flag_technical_error(
                        lead=lead, actor=request.user, reason=form.cleaned_data["reason"]
                    )
                except AntidoteError as error:
                    self.message_user(
                        request, f"Lead #{lead.pk}: refused. {error.message}", messages.ERROR
                    )
                    continue
                outcome = (
                    f"{format_number(flag.refunded_credits)} credits refunded to {lead.clinic}"
                    if flag.refunded_credits
                    else f"now {flag.lead.get_billing_state_display().lower()}, nothing charged"
                )
                self.message_user(request, f"Lead #{lead.pk} flagged: {outcome}.", messages.SUCCESS)
            return None
        rows = [(lead, _what_flagging_does(lead)) for lead in chosen]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Flag as technical error at the source",
            "form": form,
            "rows": rows,
            "refund_total": sum(lead.net_charge for lead in chosen if _refunded_on_flag(lead)),
            "action": "flag_technical_error",
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/leads/lead/flag_technical_error.html", context)


def _refunded_on_flag(lead) -> bool:
    """What the service will refund: what is left of a charge, to a clinic that takes entries.

    A lead flagged earlier but still charged is refunded too (reconcile names it)."""
    return lead.net_charge > 0 and lead.clinic.is_active


def _what_flagging_does(lead) -> str:
    if lead.net_charge > 0 and not lead.clinic.is_active:
        return "inactive clinic: will be refused"
    if _refunded_on_flag(lead):
        return f"refund {format_number(lead.net_charge)} credits to the clinic"
    if lead.technical_error:
        return "already flagged: will be refused"
    if lead.billing_state in Lead.WAITING_STATES:
        cost = format_number(lead.price_credits)
        return f"leaves the queue free of charge (would have cost {cost} credits)"
    if lead.billing_state == Lead.Billing.CHARGED:
        return "already refunded in full: nothing to refund"
    return "never charged: nothing to refund"


# Clinic teams: the same services as the portal's team page, so the last-owner rule, the
# history's "by whom" and the invitation's once-only link hold here too. A version is never
# saved back (reverting could demote a clinic's last owner behind the service's back).


@admin.register(ClinicMember)
class ClinicMemberAdmin(NoRevertMixin, RefusalAsMessageMixin, HistoryAdmin):
    list_display = ["user", "clinic", "role"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__email", "clinic__name"]
    list_select_related = ["user", "clinic"]
    autocomplete_fields = ["user", "clinic"]
    actions = ["remove_members"]

    def get_readonly_fields(self, request, obj=None):
        return ["user", "clinic"] if obj else []

    def save_model(self, request, obj, form, change):
        if change:
            services.change_member_role(
                clinic=obj.clinic, member_id=obj.pk, role=obj.role, actor=request.user
            )
        else:
            obj.pk = services.add_member(
                clinic=obj.clinic, user=obj.user, role=obj.role, actor=request.user
            ).pk

    def delete_model(self, request, obj):
        services.remove_member(clinic=obj.clinic, member_id=obj.pk, actor=request.user)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except AntidoteError as error:
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:leads_clinicmember_changelist"))

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # it would report deletions the rule refused
        return actions

    @admin.action(permissions=["delete"], description="Remove the selected members")
    def remove_members(self, request, queryset):
        for member in queryset.select_related("user", "clinic").order_by("clinic__name", "pk"):
            try:
                services.remove_member(
                    clinic=member.clinic, member_id=member.pk, actor=request.user
                )
            except AntidoteError as error:
                self.message_user(request, f"{member}: refused. {error.message}", messages.ERROR)
                continue
            self.message_user(request, f"{member}: removed.", messages.SUCCESS)


@admin.register(Invitation)
class InvitationAdmin(NoRevertMixin, RefusalAsMessageMixin, HistoryAdmin):
    list_display = ["email", "clinic", "role", "state", "invited_by", "created_at", "expires_at"]
    list_filter = ["role"]
    search_fields = ["email", "clinic__name"]
    list_select_related = ["clinic", "invited_by"]
    autocomplete_fields = ["clinic"]
    actions = ["revoke_invitations"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["clinic", "email", "role"]
        return [
            "clinic",
            "email",
            "role",
            "state",
            "invited_by",
            "created_at",
            "expires_at",
            "accepted_at",
            "accepted_by",
            "revoked_at",
        ]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj) if obj else []

    def has_delete_permission(self, request, obj=None):
        return False  # withdrawn, never deleted: the history keeps who was invited

    def save_model(self, request, obj, form, change):
        if not change:  # an open invitation has nothing to edit; withdraw it instead
            obj.pk = services.invite_member(
                clinic=obj.clinic, email=obj.email, role=obj.role, actor=request.user
            ).pk

    @admin.action(permissions=["change"], description="Withdraw the selected invitations")
    def revoke_invitations(self, request, queryset):
        for invitation in queryset.select_related("clinic").order_by("pk"):
            try:
                services.revoke_invitation(
                    clinic=invitation.clinic, invitation_id=invitation.pk, actor=request.user
                )
            except AntidoteError as error:
                self.message_user(
                    request, f"{invitation}: refused. {error.message}", messages.ERROR
                )
                continue
            self.message_user(request, f"{invitation}: withdrawn.", messages.SUCCESS)
