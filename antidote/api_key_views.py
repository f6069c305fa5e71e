"""The owners' page for the clinic's API keys: create (the key is shown once), list, revoke."""

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from antidote import api_keys
from antidote.errors import AntidoteError
from antidote.models import ApiKey
from antidote.portal import clinic_member_required


class NewKeyForm(forms.Form):
    name = forms.CharField(max_length=80, label="Name", help_text="What will use it, e.g. Our CRM.")
    scope = forms.ChoiceField(choices=ApiKey.Scope.choices, initial=ApiKey.Scope.READ)


def _page(request, *, form, new_key=None, status=200):
    context = {"form": form, "keys": api_keys.keys_for(clinic=request.clinic), "new_key": new_key}
    return render(request, "portal/api_keys.html", context, status=status)


@never_cache  # the answer to a POST holds a whole key: no copy in any cache
@require_http_methods(["GET", "POST"])
@clinic_member_required
def api_keys_page(request):
    if request.method != "POST":
        return _page(request, form=NewKeyForm())
    form = NewKeyForm(request.POST)
    if not form.is_valid():
        return _page(request, form=form, status=400)
    try:
        new_key = api_keys.create_api_key(
            clinic=request.clinic, actor=request.user, **form.cleaned_data
        )
    except AntidoteError as refusal:
        form.add_error(None, refusal.message)
        return _page(request, form=form, status=400)
    # Rendered, not redirected: the only time the whole key is ever shown.
    return _page(request, form=NewKeyForm(), new_key=new_key, status=201)


@require_POST
@clinic_member_required
def revoke(request, key_id):
    try:
        key = api_keys.revoke_api_key(clinic=request.clinic, key_id=key_id, actor=request.user)
    except AntidoteError as refusal:
        messages.error(request, refusal.message)
        return redirect("api-keys")
    messages.success(request, f"Key {key.prefix}… ({key.name}) is revoked; it no longer works.")
    return redirect("api-keys")
