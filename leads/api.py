"""The clinic REST API's leads: list (filters, cursor pages), detail and status update.

The patient's contact is masked while the lead is held, exactly as the portal masks it
(``leads.selectors.lead_contact``).
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response

from antidote.restapi import ClinicApiViewSet, dates_in_order, idempotent
from leads import services
from leads.models import Lead
from leads.selectors import lead_contact, leads_for


class ContactSerializer(serializers.Serializer):
    name = serializers.CharField()
    phone = serializers.CharField()
    email = serializers.CharField()
    message = serializers.CharField()
    masked = serializers.BooleanField(help_text="True while the lead waits for credits.")


class LeadPackageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class LeadSerializer(serializers.ModelSerializer):
    contact = serializers.SerializerMethodField()
    lost_reason = serializers.CharField(
        read_only=True,
        help_text="Why the lead was lost (" + ", ".join(Lead.LostReason.values) + "); empty "
        "unless lost.",
    )
    package = LeadPackageSerializer(allow_null=True, read_only=True)

    class Meta:
        model = Lead
        fields = [
            "id",
            "created_at",
            "status",
            "billing_state",
            "price_credits",
            "charged_at",
            "archived",
            "booked_for",
            "revenue_paise",
            "lost_reason",
            "first_contacted_at",
            "package",
            "contact",
        ]
        read_only_fields = fields

    @extend_schema_field(ContactSerializer)
    def get_contact(self, lead):
        return ContactSerializer(lead_contact(lead)).data


class LeadFilterSerializer(serializers.Serializer):
    """The list's filters, as query parameters; each is optional."""

    status = serializers.ChoiceField(choices=Lead.Status.choices, required=False)
    billing_state = serializers.ChoiceField(choices=Lead.Billing.choices, required=False)
    package = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False)
    archived = serializers.ChoiceField(
        choices=[("no", "no"), ("yes", "yes"), ("any", "any")],
        required=False,
        help_text="Archived leads are left out unless asked for (default: no).",
    )
    date_from = serializers.DateField(required=False, help_text="Received on or after.")
    date_to = serializers.DateField(required=False, help_text="Received on or before.")

    def validate(self, attrs):
        return dates_in_order(attrs)


class LeadStatusSerializer(serializers.Serializer):
    """An outcome step: the details each status needs (the service refuses a step without
    them, with the reason)."""

    status = serializers.ChoiceField(choices=Lead.Status.choices)
    booked_for = serializers.DateField(
        required=False, allow_null=True, help_text="The appointment date; needed for booked."
    )
    revenue_paise = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=services.MAX_REVENUE_PAISE,
        help_text="Revenue from a treated patient, in paise (optional; treated only).",
    )
    lost_reason = serializers.ChoiceField(
        choices=Lead.LostReason.choices, required=False, help_text="Needed for lost."
    )


class LeadViewSet(ClinicApiViewSet):
    serializer_class = LeadSerializer
    queryset = Lead.objects.none()  # for the schema; requests use the clinic's leads

    def get_queryset(self):
        return leads_for(clinic=self.clinic, filters={"archived": "any"})

    def get_object(self):
        return get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])

    @extend_schema(parameters=[LeadFilterSerializer], summary="The clinic's leads, newest first")
    def list(self, request):
        filters = LeadFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        page = self.paginate_queryset(leads_for(clinic=self.clinic, filters=filters.validated_data))
        return self.get_paginated_response(LeadSerializer(page, many=True).data)

    @extend_schema(summary="One lead")
    def retrieve(self, request, pk):
        return self.response(self.get_object())

    @extend_schema(
        request=LeadStatusSerializer,
        summary="Record a lead's outcome (a held lead is refused until it is released)",
    )
    @idempotent
    def partial_update(self, request, pk):
        lead = self.get_object()
        form = LeadStatusSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        services.update_lead_status(
            lead=lead,
            status=data["status"],
            actor=request.user,
            via="api",
            booked_for=data.get("booked_for"),
            revenue_paise=data.get("revenue_paise"),
            lost_reason=data.get("lost_reason", ""),
        )
        return self.response(self.get_object())

    def response(self, lead):
        return Response(LeadSerializer(lead).data)
