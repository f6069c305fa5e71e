"""The admin pieces every app shares. Apps import these, never the admin site itself, whose
dashboard reads every app: importing it would tie each app to all the others."""

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from simple_history.admin import SimpleHistoryAdmin

from antidote.errors import AntidoteError


class ReadOnlyAdmin(admin.ModelAdmin):
    """Money records, written only by services: staff may look, filter and search, never edit."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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


class RefusalAsMessageMixin:
    """A save the billing services refuse (the balance moved below a new limit meanwhile, say)
    comes back to the form as an error message, with nothing written, instead of a 500."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except AntidoteError as error:
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
