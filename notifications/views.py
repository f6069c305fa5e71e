"""Portal pages: notification preferences, and the owners' webhook endpoints with their
delivery log, a test event and redelivery. Every lookup is filtered by ``request.clinic``:
another clinic's endpoint or delivery is a 404, never a hint that it exists."""

from django.contrib import messages
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from antidote.errors import AntidoteError
from antidote.portal import clinic_member_required
from notifications import selectors, services
from notifications.forms import EndpointForm, PreferencesForm, preference_field_names
from notifications.models import SUBSCRIBABLE, Channel
from notifications.services import HUMAN_CHANNELS


@require_http_methods(["GET", "POST"])
@clinic_member_required
def preferences(request):
    clinic, status, error = request.clinic, 200, None
    if request.method == "POST":
        form = PreferencesForm(request.POST)
        if not form.is_valid():
            status, error = 400, "Recipients are at most 500 characters per box."
        else:
            try:
                with transaction.atomic():
                    for event_type, channel, enabled, recipients in form.cells():
                        services.set_preference(
                            clinic=clinic,
                            event_type=event_type,
                            channel=channel,
                            enabled=enabled,
                            recipients=recipients,
                        )
            except AntidoteError as refusal:
                status, error = 400, refusal.message
            else:
                messages.success(request, "Notification preferences saved.")
                return redirect("notifications:preferences")
    rows = selectors.preference_table(clinic_id=clinic.pk)
    for row in rows:
        for cell in row["cells"]:
            cell["on_name"], cell["to_name"] = preference_field_names(
                row["event_type"], cell["channel"]
            )
    context = {
        "rows": rows,
        "channels": [Channel(c).label for c in HUMAN_CHANNELS],
        "error": error,
    }
    return render(request, "notifications/preferences.html", context, status=status)


def _endpoints_page(request, *, form=None, status=200, created=None):
    context = {
        "endpoints": selectors.clinic_endpoints(clinic_id=request.clinic.pk),
        "form": form or EndpointForm(initial={"events": [SUBSCRIBABLE[0].value]}),
        "created": created,
    }
    return render(request, "notifications/webhooks.html", context, status=status)


@require_http_methods(["GET"])
@clinic_member_required
def endpoints(request):
    return _endpoints_page(request)


@require_POST
@clinic_member_required
def create_endpoint(request):
    form = EndpointForm(request.POST)
    if not form.is_valid():
        return _endpoints_page(request, form=form, status=400)
    try:
        endpoint = services.create_webhook_endpoint(
            clinic=request.clinic,
            url=form.cleaned_data["url"],
            events=form.cleaned_data["events"],
            description=form.cleaned_data["description"],
            actor=request.user,
        )
    except AntidoteError as refusal:
        form.add_error("url", refusal.message)
        return _endpoints_page(request, form=form, status=400)
    # The secret is shown on this one response and never again.
    return _endpoints_page(request, created=endpoint, status=201)


def _own_endpoint(request, endpoint_id):
    endpoint = selectors.clinic_endpoint(clinic_id=request.clinic.pk, endpoint_id=endpoint_id)
    if endpoint is None:
        raise Http404("No such webhook endpoint.")
    return endpoint


@require_http_methods(["GET"])
@clinic_member_required
def endpoint_detail(request, endpoint_id):
    endpoint = _own_endpoint(request, endpoint_id)
    context = {
        "endpoint": endpoint,
        "deliveries": selectors.endpoint_deliveries(endpoint=endpoint),
    }
    return render(request, "notifications/webhook_detail.html", context)


def _refused(request, endpoint, refusal: AntidoteError):
    messages.error(request, refusal.message)
    return redirect("notifications:webhook", endpoint.pk)


@require_POST
@clinic_member_required
def send_test(request, endpoint_id):
    endpoint = _own_endpoint(request, endpoint_id)
    try:
        message = services.send_test_event(endpoint=endpoint)
    except AntidoteError as refusal:
        return _refused(request, endpoint, refusal)
    messages.success(request, f"Test event {message.event.public_id} queued.")
    return redirect("notifications:webhook", endpoint.pk)


@require_POST
@clinic_member_required
def toggle(request, endpoint_id):
    endpoint = _own_endpoint(request, endpoint_id)
    services.update_webhook_endpoint(endpoint=endpoint, is_active=not endpoint.is_active)
    messages.success(request, f"{endpoint.url} is {'on' if endpoint.is_active else 'off'}.")
    return redirect("notifications:webhook", endpoint.pk)


@require_POST
@clinic_member_required
def delete(request, endpoint_id):
    endpoint = _own_endpoint(request, endpoint_id)
    url = endpoint.url
    services.delete_webhook_endpoint(endpoint=endpoint)
    messages.success(request, f"{url} was removed; it receives nothing more.")
    return redirect("notifications:webhooks")


@require_POST
@clinic_member_required
def redeliver(request, endpoint_id, message_id):
    endpoint = _own_endpoint(request, endpoint_id)
    message = selectors.clinic_delivery(clinic_id=request.clinic.pk, message_id=message_id)
    if message is None or message.endpoint_id != endpoint.pk:
        raise Http404("No such delivery.")
    try:
        services.redeliver(message=message)
    except AntidoteError as refusal:
        return _refused(request, endpoint, refusal)
    messages.success(request, f"Event {message.event.public_id} queued again.")
    return redirect("notifications:webhook", endpoint.pk)
