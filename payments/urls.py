from django.urls import path

from payments import api, views

app_name = "payments"

urlpatterns = [
    path("clinic/credits/topup", views.topup, name="topup"),
    path("clinic/check-promo-code", api.check_promo_code, name="check-promo"),
    path("create-razorpay-order", api.create_razorpay_order, name="create-order"),
    path("verify-payment", api.verify_payment, name="verify"),
    # 002's paths for the same two steps (thin aliases, 002's request and response shapes).
    path(
        "clinic/simple-purchase-credits",
        api.simple_purchase_credits,
        name="simple-purchase-credits",
    ),
    path("clinic/verify-payment", api.clinic_verify_payment, name="clinic-verify"),
    path("payment-success", views.payment_success, name="success"),
    path("payment-failure", views.payment_failure, name="failure"),
    path("webhooks/razorpay", views.razorpay_webhook, name="webhook"),
    path("clinic/payments", views.payment_history, name="history"),
    path("clinic/payments/<int:pk>/receipt", views.receipt, name="receipt"),
    path("clinic/payments/<int:pk>/pay-link", views.pay_by_link, name="pay-link"),
    path("payments/link-return", views.payment_link_return, name="link-return"),
    path("clinic/payments/<int:pk>/invoice", views.invoice, name="invoice"),
    path("clinic/payments/<int:pk>/invoice.pdf", views.invoice_pdf, name="invoice-pdf"),
    path("clinic/credit-notes/<int:pk>", views.credit_note, name="credit-note"),
    path("clinic/credit-notes/<int:pk>.pdf", views.credit_note_pdf, name="credit-note-pdf"),
    path("clinic/billing/tax-details", views.tax_details, name="tax-details"),
    path("clinic/credits/billing-state", views.billing_state, name="billing-state"),
    path(
        "payments/test-checkout/<str:razorpay_order_id>", views.test_checkout, name="test-checkout"
    ),
]
