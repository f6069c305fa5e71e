from django.contrib import admin
from django.urls import include, path

from antidote import api_key_views, unavailable
from antidote.accounts import PasswordResetView
from antidote.two_factor import PortalLoginView, two_factor

urlpatterns = [
    # Before the admin: the documented /admin/disputes paths are ours, not an admin app index.
    path("", include("disputes.urls")),
    path("admin/", admin.site.urls),
    # Ahead of django.contrib.auth's own: the reset form is throttled per address.
    path("accounts/password_reset/", PasswordResetView.as_view(), name="password_reset"),
    # Ahead of django.contrib.auth's own: asks for the authenticator code once one is on.
    path("accounts/login/", PortalLoginView.as_view(), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("clinic/two-factor", two_factor, name="two-factor"),
    path("clinic/api-keys", api_key_views.api_keys_page, name="api-keys"),
    path("clinic/api-keys/<int:key_id>/revoke", api_key_views.revoke, name="api-key-revoke"),
    path("api/v1/", include("antidote.api_urls")),
    path("", include("leads.urls")),
    path("", include("billing.urls")),
    path("", include("payments.urls")),
    path("", include("notifications.urls")),
]
urlpatterns.append(path("bench/reference", unavailable.reference, name="bench-reference"))

# Outages (database, Redis, broker) answer 503 with a page; any other crash a friendly 500.
handler500 = "antidote.unavailable.server_error"
