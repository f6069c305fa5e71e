"""The clinic REST API, v1: one router over each app's ``api.py``, the OpenAPI schema and its
interactive docs (Swagger UI from drf-spectacular-sidecar, served by us: no CDN, and its
start-up script is a file, so the site's CSP needs no exception).

Mounted at ``/api/v1/`` by the root URLconf.
"""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from antidote import api_schema  # noqa: F401  (registers the API key scheme)
from antidote.restapi import not_found
from billing.api import BalanceView, LedgerEntryViewSet
from disputes.api import DisputeViewSet
from leads.api import LeadViewSet
from notifications.api import WebhookEndpointViewSet
from payments.api import DocumentViewSet, PaymentViewSet, TaxDocumentViewSet

app_name = "api-v1"


class Router(SimpleRouter):
    """Only the methods each viewset has; PATCH without PUT."""

    def get_method_map(self, viewset, method_map):
        mapping = super().get_method_map(viewset, method_map)
        mapping.pop("put", None)
        return mapping


router = Router()
router.register("leads", LeadViewSet, basename="lead")
router.register("ledger-entries", LedgerEntryViewSet, basename="ledger-entry")
router.register("disputes", DisputeViewSet, basename="dispute")
router.register("payments", PaymentViewSet, basename="payment")
router.register("documents", DocumentViewSet, basename="document")
router.register("tax-documents", TaxDocumentViewSet, basename="tax-document")
router.register("webhook-endpoints", WebhookEndpointViewSet, basename="webhook-endpoint")


class DocsView(SpectacularSwaggerSplitView):
    template_name = "api/docs.html"
    url_name = "api-v1:schema"


urlpatterns = [
    path("balance/", BalanceView.as_view(), name="balance"),
    *router.urls,
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", DocsView.as_view(), name="docs"),
    re_path(r"^", not_found, name="not-found"),
]
