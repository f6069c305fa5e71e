"""JSON for the portal (balance and transaction history, session-authenticated clinic users),
and the REST API's balance and ledger entries (API keys)."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from antidote.paging import CursorForm, count_rows
from antidote.portal import IsClinicMember
from antidote.restapi import ByIdCursor, ClinicApiView, ClinicApiViewSet, dates_in_order
from billing.forms import HistoryFilterForm
from billing.models import CreditTransaction
from billing.selectors import (
    account_balance,
    account_of,
    is_own_entry,
    transactions_for,
)

MAX_PAGE_SIZE = 100


class TransactionSerializer(serializers.ModelSerializer):
    class Meta:
        model = CreditTransaction
        fields = ["id", "created_at", "kind", "credits", "balance_after", "lead", "memo"]


@api_view(["GET"])
@permission_classes([IsClinicMember])
def balance(request):
    return Response({"balance": account_balance(clinic=request.clinic), "status": "success"})


def _whole_number(name: str, default: int) -> serializers.IntegerField:
    message = f"{name} must be a whole number of at least 1."
    return serializers.IntegerField(
        min_value=1,
        max_value=2**31 - 1,
        default=default,
        error_messages={
            key: message for key in ("invalid", "min_value", "max_value", "max_string_length")
        },
    )


class HistoryPageSerializer(serializers.Serializer):
    """``?page=`` and ``?limit=``: "²" or 5,000 digits are refused here, not by int()."""

    page = _whole_number("page", 1)
    limit = _whole_number("limit", 20)

    def to_internal_value(self, data):
        # An empty parameter means "not given", as on the HTML page.
        given = {k: data.get(k) for k in ("page", "limit") if data.get(k) not in (None, "")}
        return super().to_internal_value(given)


@api_view(["GET"])
@permission_classes([IsClinicMember])
def history(request):
    """``?page=`` counts pages from the newest (OFFSET: fine near the top); ``?before=<id>``
    (the ``next_before`` of the previous answer) walks on by keyset at any depth. ``total``
    is exact up to 10,000 entries and an estimate above (``total_is_estimate``)."""
    form = HistoryFilterForm(request.query_params)
    if not form.is_valid():
        raise ValidationError(form.errors)
    paging = HistoryPageSerializer(data=request.query_params)
    paging.is_valid(raise_exception=True)
    cursor = CursorForm(request.query_params)
    if not cursor.is_valid():
        raise ValidationError(cursor.errors)
    page_number = paging.validated_data["page"]
    limit = min(paging.validated_data["limit"], MAX_PAGE_SIZE)
    entries = transactions_for(clinic=request.clinic, **form.cleaned_data)
    before, after = cursor.cleaned_data["before"], cursor.cleaned_data["after"]
    edge = before or after
    if edge and not is_own_entry(clinic=request.clinic, entry_id=edge):
        raise Http404("That entry is not in this clinic's ledger.")
    if before is not None or after is not None:
        page = cursor.page_of(entries, size=limit)
        items, more = page.rows, page.has_older
    else:
        offset = (page_number - 1) * limit
        items = list(entries[offset : offset + limit + 1])
        more, items = len(items) > limit, items[:limit]
    total = count_rows(entries)
    return Response(
        {
            "transactions": TransactionSerializer(items, many=True).data,
            "total": total.value,
            "total_is_estimate": total.is_estimate,
            "page": page_number,
            "next_before": items[-1].pk if more and items else None,
        }
    )


# The clinic REST API, v1 (API keys; antidote.restapi) -----------------------------------------


class BalanceSerializer(serializers.Serializer):
    balance = serializers.IntegerField(help_text="Credits; below zero within the overdraft.")
    overdraft_limit = serializers.IntegerField()
    low_balance_threshold = serializers.IntegerField()
    in_debt = serializers.BooleanField()


class LedgerEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = CreditTransaction
        fields = ["id", "created_at", "kind", "credits", "balance_after", "lead", "memo"]
        read_only_fields = fields


class LedgerFilterSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=CreditTransaction.Kind.choices, required=False)
    date_from = serializers.DateField(required=False, help_text="Posted on or after.")
    date_to = serializers.DateField(required=False, help_text="Posted on or before.")

    def validate(self, attrs):
        return dates_in_order(attrs)


class BalanceView(ClinicApiView):
    serializer_class = BalanceSerializer

    @extend_schema(summary="The clinic's credit balance")
    def get(self, request):
        return Response(BalanceSerializer(account_of(clinic=self.clinic)).data)


class LedgerEntryViewSet(ClinicApiViewSet):
    serializer_class = LedgerEntrySerializer
    pagination_class = ByIdCursor  # ledger ids are in posting order
    queryset = CreditTransaction.objects.none()  # for the schema

    @extend_schema(parameters=[LedgerFilterSerializer], summary="Ledger entries, newest first")
    def list(self, request):
        filters = LedgerFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        entries = transactions_for(clinic=self.clinic, **filters.validated_data)
        page = self.paginate_queryset(entries)
        return self.get_paginated_response(LedgerEntrySerializer(page, many=True).data)
