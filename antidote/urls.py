from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    # Before the admin: the documented /admin/disputes paths are ours, not an admin app index.
    path("", include("disputes.urls")),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("leads.urls")),
    path("", include("billing.urls")),
    path("", include("payments.urls")),
]
