"""JSON endpoints of the top-up flow (session-authenticated clinic members, CSRF-protected)."""

from rest_framework import status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.response import Response

from antidote.errors import AntidoteError
from antidote.portal import IsClinicMember
from billing.selectors import account_balance
from payments import services
from payments.gateway import PaymentUnavailable, get_gateway


def _refusal(error: AntidoteError) -> Response:
    if isinstance(error, PaymentUnavailable):
        code = status.HTTP_503_SERVICE_UNAVAILABLE
    elif error.code == "not_found":
        code = status.HTTP_404_NOT_FOUND
    else:
        code = status.HTTP_400_BAD_REQUEST
    return Response({"success": False, "message": error.message}, status=code)


def _quote(request):
    data = request.data
    return services.quote_topup(
        clinic=request.clinic,
        package_id=data.get("package"),
        amount=data.get("amount"),
        promo_code=data.get("promo_code", ""),
    )


@api_view(["POST"])
@permission_classes([IsClinicMember])
def check_promo_code(request):
    """Live check for the top-up form: the discount and bonus a code gives on this choice."""
    try:
        quote = _quote(request)
    except AntidoteError as error:
        return Response(
            {"success": False, "discount": 0, "bonus_credits": 0, "message": error.message}
        )
    message = f"{quote.promo.code} applied." if quote.promo else ""
    return Response(
        {
            "success": True,
            "discount": quote.discount_paise // 100,
            "bonus_credits": quote.promo_bonus_credits,
            "message": message,
            "amount": quote.amount_paise // 100,
            "credits": quote.total_credits,
        }
    )


@api_view(["POST"])
@permission_classes([IsClinicMember])
def create_razorpay_order(request):
    try:
        order = services.create_order(
            clinic=request.clinic, user=request.user, quote=_quote(request)
        )
    except AntidoteError as error:
        return _refusal(error)
    return Response(
        {
            "success": True,
            "order_id": order.razorpay_order_id,
            "key": get_gateway().key_id,
            "amount": order.amount_paise // 100,
            "credits": order.total_credits,
            "razorpay_amount": order.amount_paise,
            "currency": "INR",
        }
    )


@api_view(["POST"])
@permission_classes([IsClinicMember])
def verify_payment(request):
    data = request.data
    try:
        order = services.verify_payment(
            clinic=request.clinic,
            razorpay_order_id=str(data.get("razorpay_order_id", "")),
            razorpay_payment_id=str(data.get("razorpay_payment_id", "")),
            razorpay_signature=str(data.get("razorpay_signature", "")),
        )
    except AntidoteError as error:
        return _refusal(error)
    return Response(
        {
            "success": True,
            "message": f"Payment received: {order.total_credits:,} credits added.",
            "new_balance": account_balance(clinic=request.clinic),
        }
    )
