from django.urls import path

from billing import api, views

app_name = "billing"

urlpatterns = [
    path("clinic/billing-dashboard", views.billing_dashboard, name="dashboard"),
    path("clinic/credits/history", views.credits_history, name="history"),
    path("clinic/credits/balance", api.balance, name="balance"),
    path("clinic/budget", views.budget, name="budget"),
    path("clinic/credits/transfer", views.transfer, name="transfer"),
]
