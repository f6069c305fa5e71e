"""Two clinics with leads, a dispute and payments, and API keys for each: the REST API's world."""

from dataclasses import dataclass
from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from antidote import api_keys
from disputes import services as disputes
from leads import services as leads
from leads.models import Lead
from notifications import services as notifications
from tests.disputes.conftest import DESCRIPTION, PNG
from tests.factories import ClinicFactory, ClinicMemberFactory, LeadFactory, fund, paid_order


class ApiClient(Client):
    """The test client with a key in the Authorization header and JSON bodies by default."""

    def __init__(self, token=None, **kwargs):
        super().__init__(**kwargs)
        self.token = token

    def generic(self, method, path, data="", content_type="application/json", **extra):
        if self.token is not None:
            extra.setdefault("HTTP_AUTHORIZATION", f"Bearer {self.token}")
        return super().generic(method, path, data, content_type, **extra)

    def patch(self, path, data=None, content_type="application/json", **extra):
        return super().patch(path, data, content_type=content_type, **extra)

    def post(self, path, data=None, content_type="application/json", **extra):
        return super().post(path, data, content_type=content_type, **extra)


@dataclass
class Side:
    clinic: object
    owner: object
    write: str  # tokens
    read: str
    charged: Lead
    booked: Lead
    held: Lead
    dispute: object
    order: object
    invoice: object  # the order's tax invoice
    endpoint: object

    def client(self, scope="write") -> ApiClient:
        return ApiClient(self.write if scope == "write" else self.read)


def build_side(name: str, phone_base: int) -> Side:
    clinic = ClinicFactory(name=name)
    owner = ClinicMemberFactory(clinic=clinic).user
    fund(clinic, 1_000)
    charged = leads.submit_enquiry(clinic=clinic, name="Asha Patel", phone=f"{phone_base + 1}")
    booked = leads.submit_enquiry(clinic=clinic, name="Ravi Kumar", phone=f"{phone_base + 2}")
    leads.update_lead_status(lead=booked, status="booked", booked_for=date(2026, 5, 4))
    held = LeadFactory(clinic=clinic, patient_name="Hidden Person", phone=f"+91{phone_base + 3}")
    dispute = disputes.open_dispute(
        lead=charged,
        user=owner,
        dispute_type="spam",
        description=DESCRIPTION,
        evidence=[SimpleUploadedFile("shot.png", PNG, content_type="image/png")],
    )
    order = paid_order(clinic=clinic, user=owner, amount=1_000)
    write = api_keys.create_api_key(clinic=clinic, name="CRM", scope="write", actor=owner).token
    read = api_keys.create_api_key(clinic=clinic, name="Sheet", scope="read", actor=owner).token
    # Loopback is allowed in tests; nothing listens on port 9, so a send fails fast.
    endpoint = notifications.create_webhook_endpoint(
        clinic=clinic, url=f"http://127.0.0.1:9/{name.split()[0].lower()}", events=["lead.held"]
    )
    invoice = order.tax_documents.get()
    return Side(
        clinic, owner, write, read, charged, booked, held, dispute, order, invoice, endpoint
    )


@pytest.fixture
def a(db):
    return build_side("Alpha Clinic", 9000000000)


@pytest.fixture
def b(db):
    return build_side("Beta Clinic", 9100000000)
