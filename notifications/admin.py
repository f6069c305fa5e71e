"""Staff see every message, its tries and failures, and clinics' endpoints; nothing is edited
here (messages change only through the outbox's services)."""

from django.contrib import admin

from antidote.admin_bases import ReadOnlyAdmin
from notifications.models import DeliveryAttempt, Event, OutboxMessage, WebhookEndpoint


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = ["attempted_at", "ok", "status_code", "duration_ms", "response_excerpt", "error"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    list_display = [
        "pk",
        "channel",
        "event_type",
        "clinic",
        "recipient_or_endpoint",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
    ]
    list_filter = ["status", "channel", "event__type"]
    search_fields = ["recipient", "endpoint__url", "event__public_id"]
    list_select_related = ["event__clinic", "endpoint"]
    inlines = [DeliveryAttemptInline]
    exclude = ["claimed_until"]

    @admin.display(description="event", ordering="event__type")
    def event_type(self, obj):
        return obj.event.type

    @admin.display(description="clinic")
    def clinic(self, obj):
        return obj.event.clinic

    @admin.display(description="to")
    def recipient_or_endpoint(self, obj):
        return obj.endpoint.url if obj.endpoint_id else obj.recipient


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["public_id", "type", "clinic", "created_at"]
    list_filter = ["type"]
    search_fields = ["public_id", "clinic__name"]
    list_select_related = ["clinic"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ["url", "clinic", "is_active", "failing_since", "disabled_at", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["url", "clinic__name"]
    list_select_related = ["clinic"]
    # The signing secret is the clinic's; staff never see it.
    exclude = ["secret"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name != "secret"]
