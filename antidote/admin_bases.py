"""The admin pieces every app shares. Apps import these, never the admin site itself, whose
dashboard reads every app: importing it would tie each app to all the others."""

from dataclasses import dataclass
from functools import cache
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import get_fields_from_path, unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.templatetags.static import static
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from simple_history.admin import SimpleHistoryAdmin

from antidote.errors import AntidoteError
from antidote.fields import RupeesField
from antidote.paging import EstimatedCountPaginator


class ReadOnlyAdmin(admin.ModelAdmin):
    """Money records, written only by services: staff may look, filter and search, never edit."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    """Rows shown on their parent's page, to read: they change on their own pages."""

    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


_PK = "__pk__"


def change_urls(viewname: str, *, current_app: str = "admin"):
    """``pk → reverse(viewname, args=[pk])`` for integer keys, with one reverse() in all.

    A list of 100 rows reversed each row's link (and its lead's, say) one at a time; the URL
    differs only in the id. Make it per request: the script prefix and URLconf can change
    between requests."""
    prefix, suffix = reverse(viewname, args=[_PK], current_app=current_app).split(_PK)

    def url(pk) -> str:
        return f"{prefix}{int(pk)}{suffix}"

    return url


@cache
def yes_no_icon(value: bool | None) -> str:
    """The icon a boolean column shows (Django's markup), made once per value.

    Django makes it for each cell, and finding the static file's URL is most of the ~70 µs:
    100 rows a page. A display method returns it for a boolean field it shows."""
    name = {True: "yes", False: "no", None: "unknown"}[value]
    return format_html('<img src="{}" alt="{}">', static(f"admin/img/icon-{name}.svg"), value)


@receiver(setting_changed)
def _forget_icons(*, setting, **kwargs):
    if setting in {"STATIC_URL", "STORAGES"}:
        yes_no_icon.cache_clear()


class BigChangeList(ChangeList):
    """A changelist that links its rows without a reverse() each (integer keys only)."""

    @cached_property
    def _change_url(self):
        opts = self.opts
        return change_urls(
            f"admin:{opts.app_label}_{opts.model_name}_change",
            current_app=self.model_admin.admin_site.name,
        )

    def url_for_result(self, result):
        pk = getattr(result, self.pk_attname)
        if type(pk) is not int:
            return super().url_for_result(result)
        return self._change_url(pk)


class BigListMixin:
    """For lists that grow to millions of rows: no COUNT(*) of the whole table beside a
    filtered one ("5 results (5,000,000 total)"), and the page links from an estimated count
    (antidote.paging) instead of an exact one. A page of 100 rows renders without a template
    or a reverse() per row."""

    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def get_changelist(self, request, **kwargs):
        return BigChangeList

    def get_empty_value_display(self):
        # Asked for once a cell (1,000 a page); Django's raises and catches an AttributeError
        # each time when the admin sets none, then marks the site's "-" safe through keep_lazy.
        value = getattr(self, "empty_value_display", None)
        if value is None:
            value = self.admin_site.empty_value_display
        return SafeString(value) if type(value) is str else mark_safe(value)

    def action_checkbox(self, obj):
        # Django renders each row's checkbox as a CheckboxInput through the form template
        # engine (three templates a row): a third of a 100-row page's Python. The same markup,
        # formatted directly.
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            admin.helpers.ACTION_CHECKBOX_NAME,
            str(obj.pk),
            format_html(_("Select this object for an action - {}"), str(obj)),
        )

    def lookup_allowed(self, lookup, value, request=None):
        # A one_clinic_filter's parameter is its own (Django checks it as a field path first).
        own = {getattr(f, "parameter_name", None) for f in self.list_filter if isinstance(f, type)}
        return lookup in own or super().lookup_allowed(lookup, value, request)


def one_clinic_filter(path: str):
    """A list filter by clinic that does not list every clinic (10,000 links, seconds of
    rendering on each page load): it shows the clinic filtered on, if any. Staff arrive
    filtered from a clinic's page or a search; the parameter is the admin's usual one
    (``<path>__id__exact``), so existing links keep working."""

    class OneClinicFilter(admin.SimpleListFilter):
        title = "clinic"
        parameter_name = f"{path}__id__exact"

        def lookups(self, request, model_admin):
            value = self.value()
            if not (value and value.isdigit()):
                return []
            clinic = get_fields_from_path(model_admin.model, path)[-1].related_model
            return list(clinic.objects.filter(pk=value).values_list("pk", "name"))

        def queryset(self, request, queryset):
            value = self.value()
            if value is None:
                return queryset
            if not value.isdigit():
                raise IncorrectLookupParameters(f"{self.parameter_name} must be a clinic's id.")
            return queryset.filter(**{f"{path}__id": int(value)})

    return OneClinicFilter


class HistoryAdmin(SimpleHistoryAdmin):
    """Change history for settings rows (tiers, packages, promo codes, account settings).

    Reverting to a version saves it, so the revert form, shown or posted, needs change
    permission on the row (add permission to bring back a deleted one). simple-history itself
    asks only for view permission, which let read-only auditors write. Anyone who may view
    still sees the history list with every change.
    """

    def _check_ids(self, *, object_id, version_id=None):
        """404 for an id that cannot be a row's or a version's, parsed by the model's fields.

        simple-history filters with the path's ids as they come, so "x" or 5,000 digits made
        the lookup raise and the page a 500.
        """
        try:
            self.model._meta.pk.to_python(unquote(object_id))
            if version_id is not None:
                self.model.history.model._meta.pk.to_python(unquote(version_id))
        except ValidationError as error:
            raise Http404("No such row or version.") from error

    def history_view(self, request, object_id, extra_context=None):
        self._check_ids(object_id=object_id)
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        self._check_ids(object_id=object_id, version_id=version_id)
        current = self.get_object(request, unquote(object_id))
        if current is None:
            allowed = self.has_add_permission(request)
        else:
            allowed = self.has_change_permission(request, current)
        if not allowed:
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)

    def revert_disabled(self, request, obj=None):
        return not self.has_change_permission(request, obj) or super().revert_disabled(request, obj)


class ChangeReasonForm(forms.ModelForm):
    """A settings form that asks why: required for every edit that changes something (a revert
    too), optional on add. Kept on the history row (simple-history's ``_change_reason``)."""

    REQUIRED = "Say why you are making this change; it goes in the history."

    change_reason = forms.CharField(
        max_length=100,
        required=False,
        label="Reason for this change",
        help_text="Required for any change: it is kept in the history beside what changed.",
    )

    def clean(self):
        cleaned = super().clean()
        reason = (cleaned.get("change_reason") or "").strip()
        changed = [name for name in self.changed_data if name != "change_reason"]
        if not self.instance._state.adding and changed and not reason:
            self.add_error("change_reason", self.REQUIRED)
        cleaned["change_reason"] = reason
        return cleaned

    def _post_clean(self):
        super()._post_clean()
        reason = self.cleaned_data.get("change_reason") or ""
        self.instance._change_reason = reason or ("Created" if self.instance._state.adding else "")


def settings_form_in_rupees(model, *, rupees: dict[str, str], help_text: str):
    """A ``ChangeReasonForm`` for ``model`` whose paise fields (name → label) staff enter and
    see in rupees (``RupeesField``); they are stored in paise."""
    return forms.modelform_factory(
        model,
        form=ChangeReasonForm,
        fields="__all__",
        field_classes=dict.fromkeys(rupees, RupeesField),
        labels=rupees,
        help_texts=dict.fromkeys(rupees, help_text),
    )


class ChangeReasonAdmin(HistoryAdmin):
    """Tiers, packages, promo codes and account settings: every edit says why, and the first
    recorded edit of a row that predates its history still shows its before and after."""

    form = ChangeReasonForm

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        return fields if "change_reason" in fields else [*fields, "change_reason"]

    def save_model(self, request, obj, form, change):
        if change:
            record_history_baseline(obj)
        super().save_model(request, obj, form, change)


def record_history_baseline(obj) -> None:
    """A row created before its history (seeded tiers, say) gets its stored state recorded
    first, so its first change has a "before" to compare with."""
    if obj.pk is None or obj.history.exists():
        return
    stored = type(obj)._default_manager.filter(pk=obj.pk).first()
    if stored is not None:
        obj.history.bulk_history_create(
            [stored], default_change_reason="State before the first recorded change"
        )


class NoRevertMixin:
    """For rows that change only through a service: the history is shown, no version is ever
    saved back (a revert would write behind the service's rules)."""

    def revert_disabled(self, request, obj=None):
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method == "POST":
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)


class RefusalAsMessageMixin:
    """A save the billing services refuse (the balance moved below a new limit meanwhile, say)
    comes back to the form as an error message, with nothing written, instead of a 500."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except AntidoteError as error:
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


@dataclass(frozen=True)
class MoneyMove:
    """One line of a money action's confirmation page."""

    clinic: Any  # a leads.Clinic, with its credit_account loaded
    credits: int  # how the clinic's balance will move (negative takes credits away)
    label: str  # what moves it: "Dispute #7, lead #12"
    problem: str = ""  # why it will be refused; a refused line counts in no total


@dataclass(frozen=True)
class ClinicTotal:
    clinic: Any
    moves: int
    credits: int
    balance: int

    @property
    def balance_after(self) -> int:
        return self.balance + self.credits


class MoneyActionConfirmation:
    """Every admin action that moves credits asks first, like Django's delete confirmation.

    The first POST (the action chosen on the list, or the action's own form) renders
    ``confirm_money_action``: each line, the total per clinic with its balance before and
    after, and the total in all. Only a POST of that page, which carries ``confirm=yes``, the
    same selected ids (never "select all" again) and the form's values as hidden fields,
    applies the action: check ``money_action_confirmed`` before moving anything.
    """

    money_confirmation_template = "admin/money_action_confirmation.html"

    @staticmethod
    def money_action_confirmed(request) -> bool:
        return request.POST.get("confirm") == "yes"

    def confirm_money_action(
        self, request, *, action, title, moves, selected, form=None, hidden=None, intro=""
    ):
        by_clinic: dict[int, ClinicTotal] = {}
        for move in moves:
            if move.problem:
                continue
            seen = by_clinic.get(move.clinic.pk)
            by_clinic[move.clinic.pk] = ClinicTotal(
                clinic=move.clinic,
                moves=(seen.moves if seen else 0) + 1,
                credits=(seen.credits if seen else 0) + move.credits,
                balance=move.clinic.credit_account.balance,
            )
        totals = sorted(by_clinic.values(), key=lambda t: (t.clinic.name, t.clinic.pk))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "intro": intro,
            "action": action,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "selected": [obj.pk for obj in selected],
            "form": form,
            "hidden": sorted((hidden or {}).items()),
            "moves": moves,
            "clinic_totals": totals,
            "total_credits": sum(t.credits for t in totals),
            "refused": sum(1 for move in moves if move.problem),
        }
        return TemplateResponse(request, self.money_confirmation_template, context)
