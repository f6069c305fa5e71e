from django.contrib import admin
from django.urls import include, path

from antidote.accounts import PasswordResetView

urlpatterns = [
    # Before the admin: the documented /admin/disputes paths are ours, not an admin app index.
    path("", include("disputes.urls")),
    path("admin/", admin.site.urls),
    # Ahead of django.contrib.auth's own: the reset form is throttled per address.
    path("accounts/password_reset/", PasswordResetView.as_view(), name="password_reset"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("leads.urls")),
    path("", include("billing.urls")),
    path("", include("payments.urls")),
]
