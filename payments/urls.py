from django.urls import path

from payments import views

app_name = "payments"

urlpatterns = [
    path("clinic/credits/topup", views.topup, name="topup"),
]
