"""JSON endpoints of the top-up flow (session-authenticated clinic members, CSRF-protected),
and the REST API's payments and documents (API keys)."""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.response import Response

from antidote.errors import AntidoteError
from antidote.money import format_number
from antidote.portal import IsClinicMember
from antidote.restapi import ByIdCursor, ClinicApiViewSet
from billing.selectors import account_balance
from payments import services
from payments.gateway import PaymentUnavailable, get_gateway
from payments.models import PaymentOrder, TaxDocument
from payments.pdf import tax_document_pdf_response
from payments.selectors import payment_orders_for, receipts_for, tax_documents_for


def _refusal(error: AntidoteError) -> Response:
    if isinstance(error, PaymentUnavailable):
        code = status.HTTP_503_SERVICE_UNAVAILABLE
    elif error.code == "not_found":
        code = status.HTTP_404_NOT_FOUND
    elif error.code == "clinic_mismatch":
        code = status.HTTP_409_CONFLICT
    else:
        code = status.HTTP_400_BAD_REQUEST
    return Response({"success": False, "message": error.message}, status=code)


def _rupees(paise: int) -> str | int:
    """Rupees for JSON: an int when whole, else an exact decimal string ("1180.50"), never a
    float."""
    rupees, rest = divmod(paise, 100)
    return rupees if not rest else f"{rupees}.{rest:02d}"


WHOLE_RUPEES = "Enter the amount in whole rupees, e.g. 2500."
NO_CLINIC = "This request does not say which clinic it is for; reload the page and try again."


class ForClinicSerializer(serializers.Serializer):
    """A request that moves money names the clinic its page was made for.

    The session's clinic can change in another tab (the clinic switcher); money must land on
    the clinic the person was looking at, so a mismatch is refused, never redirected.
    """

    clinic = serializers.IntegerField(
        min_value=1,
        max_value=2**63 - 1,
        error_messages={
            key: NO_CLINIC
            for key in (
                "required",
                "null",
                "invalid",
                "min_value",
                "max_value",
                "max_string_length",
            )
        },
    )


def check_clinic(request, form: ForClinicSerializer) -> None:
    if form.validated_data["clinic"] != request.clinic.pk:
        raise AntidoteError(
            f"This page was opened for another clinic; you have since switched to "
            f"{request.clinic}. Reload the page and try again. Nothing was charged.",
            code="clinic_mismatch",
        )


class TopupSerializer(serializers.Serializer):
    """The top-up choice: a listed package or a custom amount in whole rupees, and a code."""

    package = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=2**31 - 1,
        error_messages={
            key: "Choose one of the listed packages."
            for key in ("invalid", "min_value", "max_value", "max_string_length")
        },
    )
    amount = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=10**12,
        error_messages={
            key: WHOLE_RUPEES for key in ("invalid", "min_value", "max_value", "max_string_length")
        },
    )
    promo_code = serializers.CharField(
        required=False, allow_blank=True, max_length=40, default="", trim_whitespace=True
    )

    def to_internal_value(self, data):
        # An empty form field means "not chosen", not "invalid".
        if hasattr(data, "items"):
            data = {k: v for k, v in data.items() if not (k in ("package", "amount") and v == "")}
            if "promo_code" not in data and "code" in data:
                data["promo_code"] = data.pop("code")  # 002's name for the same field
        return super().to_internal_value(data)


def first_error(serializer: serializers.Serializer) -> str:
    """One readable message from a serializer's errors, for a clinic to act on."""
    errors = serializer.errors
    while isinstance(errors, dict | list) and errors:
        errors = next(iter(errors.values())) if isinstance(errors, dict) else errors[0]
    return str(errors) or "The request could not be read."


class OrderSerializer(TopupSerializer, ForClinicSerializer):
    pass


def quote_request(request, serializer=TopupSerializer, data=None):
    form = serializer(data=request.data if data is None else data)
    if not form.is_valid():
        raise AntidoteError(first_error(form), code="amount" if "amount" in form.errors else None)
    if isinstance(form, ForClinicSerializer):
        check_clinic(request, form)
    data = form.validated_data
    return services.quote_topup(
        clinic=request.clinic,
        package_id=data.get("package"),
        amount=data.get("amount"),
        promo_code=data["promo_code"],
    )


class VerifySerializer(ForClinicSerializer):
    """The three fields Razorpay's checkout hands the page: ids and a hex HMAC."""

    razorpay_order_id = serializers.RegexField(r"^\w{1,60}$")
    razorpay_payment_id = serializers.RegexField(r"^\w{1,60}$")
    razorpay_signature = serializers.RegexField(r"^[0-9a-fA-F]{1,128}$")


@api_view(["POST"])
@permission_classes([IsClinicMember])
def check_promo_code(request):
    """Live check for the top-up form: the discount and bonus a code gives on this choice."""
    try:
        quote = quote_request(request)
    except AntidoteError as error:
        return Response(
            {
                "success": False,
                "discount": 0,
                "bonus_credits": 0,
                "message": error.message,
                # Where the page shows it: beside the amount, or under the promo code.
                "field": "amount" if error.code == "amount" else "promo_code",
            }
        )
    message = services.describe_promo(quote)
    return Response(
        {
            "success": True,
            "discount": quote.discount_paise // 100,
            "bonus_credits": quote.promo_bonus_credits,
            "message": message,
            "amount": quote.amount_paise // 100,
            "gst": _rupees(quote.gst_paise),
            "total": _rupees(quote.charged_paise),
            "has_billing_state": quote.tax is not None,
            "credits": quote.total_credits,
            "bonus": quote.bonus_credits,
        }
    )


def with_session_clinic(request):
    """002's bodies do not name the clinic. A member of one clinic cannot have switched
    clinics in another tab, so theirs is implied; a member of several must still name it."""
    data = request.data
    # A JSON body that is not an object is left for the serializer to refuse.
    if not isinstance(data, dict) or "clinic" in data or len(request.memberships) != 1:
        return data
    data = data.dict() if hasattr(data, "dict") else dict(data)
    data["clinic"] = request.clinic.pk
    return data


@api_view(["POST"])
@permission_classes([IsClinicMember])
def create_razorpay_order(request):
    return _create_order(request, request.data)


@api_view(["POST"])
@permission_classes([IsClinicMember])
def simple_purchase_credits(request):
    """002's ``POST /clinic/simple-purchase-credits``: the same order, 002's body and shape."""
    return _create_order(request, with_session_clinic(request))


def _create_order(request, data):
    try:
        order = services.create_order(
            clinic=request.clinic,
            user=request.user,
            quote=quote_request(request, OrderSerializer, data),
        )
    except AntidoteError as error:
        return _refusal(error)
    return Response(
        {
            "success": True,
            "order_id": order.razorpay_order_id,
            "key": get_gateway().key_id,
            "amount": order.amount_paise // 100,
            "gst": _rupees(order.gst_paise),
            "total": _rupees(order.charged_paise),
            "credits": order.total_credits,
            "razorpay_amount": order.charged_paise,
            "currency": "INR",
        }
    )


@api_view(["POST"])
@permission_classes([IsClinicMember])
def verify_payment(request):
    return _verify(request, request.data)


@api_view(["POST"])
@permission_classes([IsClinicMember])
def clinic_verify_payment(request):
    """002's ``POST /clinic/verify-payment``: the same verification under 002's path."""
    return _verify(request, with_session_clinic(request))


def _verify(request, data):
    form = VerifySerializer(data=data)
    if not form.is_valid():
        message = (
            NO_CLINIC
            if "clinic" in form.errors
            else "razorpay_order_id, razorpay_payment_id and razorpay_signature are required."
        )
        return _refusal(AntidoteError(message))
    try:
        check_clinic(request, form)
        fields = {k: v for k, v in form.validated_data.items() if k != "clinic"}
        already_paid = PaymentOrder.objects.filter(
            clinic=request.clinic,
            razorpay_order_id=fields["razorpay_order_id"],
            status=PaymentOrder.Status.PAID,
        ).exists()
        order = services.verify_payment(clinic=request.clinic, **fields)
    except AntidoteError as error:
        return _refusal(error)
    if already_paid:
        message = (
            f"This order was already paid; its {format_number(order.total_credits)} credits were "
            "added "
            "then, not again."
        )
    else:
        message = f"Payment received: {format_number(order.total_credits)} credits added."
    return Response(
        {
            "success": True,
            "already_paid": already_paid,
            "message": message,
            "new_balance": account_balance(clinic=request.clinic),
        }
    )


# The clinic REST API, v1 (API keys; antidote.restapi) -----------------------------------------


class PaymentSerializer(serializers.ModelSerializer):
    credits = serializers.IntegerField(source="total_credits", help_text="Bonuses included.")

    class Meta:
        model = PaymentOrder
        fields = [
            "id",
            "created_at",
            "status",
            "amount_paise",
            "discount_paise",
            "credits",
            "refunded_paise",
            "razorpay_order_id",
            "paid_at",
        ]
        read_only_fields = fields


DOCUMENT_TYPES = [("receipt", "receipt")]  # tax invoices and credit notes: /tax-documents/


class DocumentSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="Stable across document types, e.g. receipt-42.")
    type = serializers.ChoiceField(choices=DOCUMENT_TYPES)
    payment = serializers.IntegerField(help_text="The payment (order) it is for.")
    amount_paise = serializers.IntegerField()
    issued_at = serializers.DateTimeField()
    url = serializers.CharField(help_text="The document in the portal (logged-in members).")

    def to_representation(self, order):
        return super().to_representation(
            {
                "id": f"receipt-{order.pk}",
                "type": "receipt",
                "payment": order.pk,
                "amount_paise": order.amount_paise,
                "issued_at": order.paid_at,
                "url": reverse("payments:receipt", args=[order.pk]),
            }
        )


class ClinicListViewSet(ClinicApiViewSet):
    """A list of the clinic's rows from one selector, newest first, in cursor pages."""

    pagination_class = ByIdCursor
    queryset = PaymentOrder.objects.none()  # for the schema

    def rows(self):
        raise NotImplementedError

    def list(self, request):
        page = self.paginate_queryset(self.rows())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


@extend_schema_view(list=extend_schema(summary="The clinic's payments (top-up orders)"))
class PaymentViewSet(ClinicListViewSet):
    serializer_class = PaymentSerializer

    def rows(self):
        return payment_orders_for(clinic=self.clinic)


@extend_schema_view(list=extend_schema(summary="The clinic's payment receipts"))
class DocumentViewSet(ClinicListViewSet):
    serializer_class = DocumentSerializer

    def rows(self):
        return receipts_for(clinic=self.clinic)


class TaxDocumentSerializer(serializers.ModelSerializer):
    payment = serializers.IntegerField(source="order_id", help_text="The payment it is for.")
    original = serializers.CharField(
        source="original.number",
        default=None,
        allow_null=True,
        help_text="A credit note's invoice number; null for an invoice.",
    )
    url = serializers.SerializerMethodField(help_text="The document in the portal.")
    pdf = serializers.SerializerMethodField(help_text="The PDF, with this API key.")

    class Meta:
        model = TaxDocument
        fields = [
            "id",
            "kind",
            "number",
            "issued_on",
            "payment",
            "original",
            "recipient_legal_name",
            "recipient_gstin",
            "place_of_supply",
            "sac",
            "credits",
            "taxable_paise",
            "rate_bp",
            "cgst_paise",
            "sgst_paise",
            "igst_paise",
            "total_paise",
            "url",
            "pdf",
        ]
        read_only_fields = fields

    def get_url(self, document) -> str:
        if document.kind == TaxDocument.Kind.INVOICE:
            return reverse("payments:invoice", args=[document.order_id])
        return reverse("payments:credit-note", args=[document.pk])

    def get_pdf(self, document) -> str:
        return reverse("api-v1:tax-document-pdf", args=[document.pk])


@extend_schema_view(
    list=extend_schema(summary="The clinic's tax invoices and credit notes, newest first"),
    retrieve=extend_schema(summary="One tax invoice or credit note"),
)
class TaxDocumentViewSet(ClinicListViewSet):
    serializer_class = TaxDocumentSerializer

    def rows(self):
        return tax_documents_for(clinic=self.clinic)

    def get_queryset(self):
        return self.rows()

    def retrieve(self, request, pk):
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        summary="The document as a PDF",
        responses={(200, "application/pdf"): OpenApiTypes.BINARY},
    )
    @action(detail=True, methods=["get"])
    def pdf(self, request, pk):
        return tax_document_pdf_response(self.get_object())
