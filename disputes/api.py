"""The clinic REST API's disputes: list, detail, open one with evidence, cancel a pending one.

Everything goes through ``disputes.services``, the portal's own path, so the API can do
nothing the portal's rules refuse.
"""

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from antidote.parsers import JSONParser
from antidote.restapi import ClinicApiViewSet, idempotent
from disputes import services
from disputes.models import Dispute, Evidence
from disputes.selectors import disputes_for
from leads.selectors import leads_for


class EvidenceSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="original_name")

    class Meta:
        model = Evidence
        fields = ["id", "name", "content_type", "size", "uploaded_at"]
        read_only_fields = fields


class DisputeSerializer(serializers.ModelSerializer):
    evidence = EvidenceSerializer(many=True, read_only=True)

    class Meta:
        model = Dispute
        fields = [
            "id",
            "lead",
            "dispute_type",
            "description",
            "status",
            "refund_credits",
            "created_at",
            "decided_at",
            "evidence",
        ]
        read_only_fields = fields


class DisputeFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Dispute.Status.choices, required=False)
    dispute_type = serializers.ChoiceField(choices=Dispute.Type.choices, required=False)


class OpenDisputeSerializer(serializers.Serializer):
    lead = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    dispute_type = serializers.ChoiceField(choices=Dispute.Type.choices)
    description = serializers.CharField(
        min_length=settings.DISPUTE_MIN_DESCRIPTION, max_length=5000
    )
    evidence = serializers.ListField(
        child=serializers.FileField(allow_empty_file=False),
        required=False,
        max_length=settings.DISPUTE_EVIDENCE_MAX_FILES,
        help_text="Images (PNG, JPEG, GIF, WebP) or PDFs; send as multipart/form-data.",
    )


class DisputeViewSet(ClinicApiViewSet):
    serializer_class = DisputeSerializer
    queryset = Dispute.objects.none()  # for the schema
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get_object(self):
        return get_object_or_404(disputes_for(clinic=self.clinic), pk=self.kwargs["pk"])

    @extend_schema(parameters=[DisputeFilterSerializer], summary="The clinic's disputes")
    def list(self, request):
        filters = DisputeFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        disputes = disputes_for(clinic=self.clinic, **filters.validated_data).prefetch_related(
            "evidence"
        )
        page = self.paginate_queryset(disputes)
        return self.get_paginated_response(DisputeSerializer(page, many=True).data)

    @extend_schema(summary="One dispute")
    def retrieve(self, request, pk):
        return Response(DisputeSerializer(self.get_object()).data)

    @extend_schema(
        request={
            "multipart/form-data": OpenDisputeSerializer,
            "application/json": OpenDisputeSerializer,
        },
        responses={201: DisputeSerializer},
        summary="Dispute a charged lead, with evidence files",
    )
    @idempotent
    def create(self, request):
        form = OpenDisputeSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        lead = leads_for(clinic=self.clinic, filters={"archived": "any"}).filter(pk=data["lead"])
        if not lead.exists():
            raise serializers.ValidationError({"lead": f"No lead #{data['lead']} at this clinic."})
        dispute = services.open_dispute(
            lead=lead.get(),
            user=request.user,
            dispute_type=data["dispute_type"],
            description=data["description"],
            evidence=data.get("evidence", ()),
        )
        return Response(DisputeSerializer(dispute).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, summary="Cancel a pending dispute")
    @action(detail=True, methods=["post"])
    @idempotent
    def cancel(self, request, pk):
        dispute = services.cancel_dispute(dispute=self.get_object(), user=request.user)
        return Response(DisputeSerializer(dispute).data)
