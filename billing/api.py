"""JSON for the portal: balance and transaction history (session-authenticated clinic users)."""

from django.core.paginator import EmptyPage, Paginator
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from antidote.portal import IsClinicMember
from billing.forms import HistoryFilterForm
from billing.models import CreditTransaction
from billing.selectors import account_balance, transactions_for

MAX_PAGE_SIZE = 100


class TransactionSerializer(serializers.ModelSerializer):
    class Meta:
        model = CreditTransaction
        fields = ["id", "created_at", "kind", "credits", "balance_after", "lead", "memo"]


@api_view(["GET"])
@permission_classes([IsClinicMember])
def balance(request):
    return Response({"balance": account_balance(clinic=request.clinic), "status": "success"})


def _positive(value, name, default):
    if value in (None, ""):
        return default
    if not str(value).isdigit() or int(value) < 1:
        raise ValidationError({name: f"{name} must be a whole number of at least 1."})
    return int(value)


@api_view(["GET"])
@permission_classes([IsClinicMember])
def history(request):
    form = HistoryFilterForm(request.query_params)
    if not form.is_valid():
        raise ValidationError(form.errors)
    page_number = _positive(request.query_params.get("page"), "page", 1)
    limit = min(_positive(request.query_params.get("limit"), "limit", 20), MAX_PAGE_SIZE)
    paginator = Paginator(transactions_for(clinic=request.clinic, **form.cleaned_data), limit)
    try:
        items = paginator.page(page_number).object_list
    except EmptyPage:
        items = []
    return Response(
        {
            "transactions": TransactionSerializer(items, many=True).data,
            "total": paginator.count,
            "page": page_number,
        }
    )
