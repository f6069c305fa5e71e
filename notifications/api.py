"""The clinic REST API's webhook endpoints: list, register (the secret is shown once), detail,
change, delete, roll the secret, send a test event, and each endpoint's delivery log.

Everything goes through ``notifications.services`` and ``notifications.selectors``, the
portal's own path: the same URL checks (http(s), a host, public addresses only) and the same
event names, so the API can register nothing the portal would refuse.
"""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from antidote.restapi import ByIdCursor, ClinicApiViewSet, idempotent
from notifications import selectors, services
from notifications.models import SUBSCRIBABLE, DeliveryAttempt, OutboxMessage, WebhookEndpoint

EVENT_CHOICES = [(t.value, t.label) for t in SUBSCRIBABLE]


class WebhookEndpointSerializer(serializers.ModelSerializer):
    enabled = serializers.BooleanField(source="is_active")
    secret_hint = serializers.CharField(
        help_text="The secret's first characters, to tell keys apart."
    )
    events = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_CHOICES))

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "events",
            "enabled",
            "disabled_at",
            "disabled_reason",
            "failing_since",
            "secret_hint",
            "created_at",
        ]
        read_only_fields = fields


class WebhookEndpointWithSecretSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        help_text="Verifies our signature on each delivery. Shown only in this response."
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


def _events_field(**kwargs):
    return serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_CHOICES),
        allow_empty=False,
        max_length=len(EVENT_CHOICES),
        help_text="Event types to receive; at least one.",
        **kwargs,
    )


class CreateWebhookEndpointSerializer(serializers.Serializer):
    url = serializers.CharField(
        max_length=500, help_text="http(s) URL on a public address; https is strongly advised."
    )
    events = _events_field()
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)


class UpdateWebhookEndpointSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=500, required=False)
    events = _events_field(required=False)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    enabled = serializers.BooleanField(
        required=False, help_text="Turning an endpoint on again restarts its failure clock."
    )


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["attempted_at", "ok", "status_code", "duration_ms", "error"]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    event_id = serializers.CharField(source="event.public_id", help_text="Stable across retries.")
    event_type = serializers.CharField(source="event.type")
    tries = DeliveryAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = OutboxMessage
        fields = [
            "id",
            "event_id",
            "event_type",
            "status",
            "attempts",
            "next_attempt_at",
            "sent_at",
            "last_error",
            "created_at",
            "tries",
        ]
        read_only_fields = fields


class WebhookEndpointViewSet(ClinicApiViewSet):
    serializer_class = WebhookEndpointSerializer
    queryset = WebhookEndpoint.objects.none()  # for the schema
    pagination_class = ByIdCursor

    def get_object(self):
        endpoint = selectors.clinic_endpoint(
            clinic_id=self.clinic.pk, endpoint_id=self.kwargs["pk"]
        )
        if endpoint is None:
            raise Http404
        return endpoint

    @extend_schema(summary="The clinic's webhook endpoints")
    def list(self, request):
        page = self.paginate_queryset(selectors.clinic_endpoints(clinic_id=self.clinic.pk))
        return self.get_paginated_response(WebhookEndpointSerializer(page, many=True).data)

    @extend_schema(summary="One webhook endpoint")
    def retrieve(self, request, pk):
        return Response(WebhookEndpointSerializer(self.get_object()).data)

    @extend_schema(
        request=CreateWebhookEndpointSerializer,
        responses={201: WebhookEndpointWithSecretSerializer},
        summary="Register a webhook endpoint (its secret is in this response only)",
    )
    @idempotent
    def create(self, request):
        form = CreateWebhookEndpointSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        endpoint = services.create_webhook_endpoint(
            clinic=self.clinic, actor=request.user, **form.validated_data
        )
        return Response(
            WebhookEndpointWithSecretSerializer(endpoint).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        request=UpdateWebhookEndpointSerializer,
        summary="Change a webhook endpoint's URL, events, description, or turn it on or off",
    )
    @idempotent
    def partial_update(self, request, pk):
        endpoint = self.get_object()
        form = UpdateWebhookEndpointSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        services.update_webhook_endpoint(
            endpoint=endpoint,
            url=data.get("url"),
            events=data.get("events"),
            description=data.get("description"),
            is_active=data.get("enabled"),
        )
        return Response(WebhookEndpointSerializer(self.get_object()).data)

    @extend_schema(request=None, responses={204: None}, summary="Delete a webhook endpoint")
    def destroy(self, request, pk):
        services.delete_webhook_endpoint(endpoint=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=None,
        responses={200: WebhookEndpointWithSecretSerializer},
        summary="Replace the endpoint's secret (the old one stops at once; the new one is shown "
        "only in this response)",
    )
    @action(detail=True, methods=["post"], url_path="roll-secret")
    @idempotent
    def roll_secret(self, request, pk):
        endpoint = services.roll_webhook_secret(endpoint=self.get_object())
        return Response(WebhookEndpointWithSecretSerializer(endpoint).data)

    @extend_schema(
        request=None,
        responses={202: DeliverySerializer},
        summary="Queue a webhook.test event to this endpoint",
    )
    @action(detail=True, methods=["post"], url_path="send-test")
    @idempotent
    def send_test(self, request, pk):
        message = services.send_test_event(endpoint=self.get_object())
        message = selectors.clinic_delivery(clinic_id=self.clinic.pk, message_id=message.pk)
        return Response(DeliverySerializer(message).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        responses={200: DeliverySerializer(many=True)},
        summary="The endpoint's deliveries, newest first, with each try",
    )
    @action(detail=True, methods=["get"], pagination_class=ByIdCursor)
    def deliveries(self, request, pk):
        messages = selectors.endpoint_delivery_log(endpoint=self.get_object())
        page = self.paginate_queryset(messages)
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)
