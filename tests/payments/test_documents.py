"""GST tax documents: an invoice for every settled order, numbered without gaps per financial
year, shown to the clinic that paid (HTML and PDF) and to staff; credit notes for money that
goes back; tax details that documents copy; the monthly report that ties out."""

import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from pypdf import PdfReader

from antidote import api_keys
from antidote.errors import AntidoteError
from payments import documents
from payments import services as payments
from payments.models import ClinicTaxDetails, PaymentOrder, TaxDocument, TaxDocumentCounter
from payments.selectors import gst_report, gst_report_rows
from tests.api.conftest import ApiClient
from tests.commands import run_command
from tests.factories import ClinicFactory, ClinicMemberFactory, StaffFactory
from tests.payments.test_flow import growth, new_order, verify
from tests.payments.test_refunds import refund_event

pytestmark = pytest.mark.django_db
IST = ZoneInfo("Asia/Kolkata")
CLINIC_GSTIN = "27AABCU9603R1ZN"  # Maharashtra; the test supplier is in Karnataka (29)


@pytest.fixture
def registered(clinic):
    payments.save_tax_details(
        clinic=clinic,
        legal_name="Glow Skin Clinic Pvt Ltd",
        address="12 Hill Road, Bandra, Mumbai 400050",
        state_code="27",
        gstin=CLINIC_GSTIN.lower(),
    )
    return clinic


def pay_growth(client, razorpay):
    order_id = new_order(client, razorpay, package=growth().pk)
    payment = razorpay.pay(order_id)
    assert verify(client, order_id, payment["id"]).status_code == 200
    return PaymentOrder.objects.get(razorpay_order_id=order_id), payment


def test_a_settled_top_up_gets_a_tax_invoice_with_igst_across_states(
    member_client, razorpay, registered
):
    order, payment = pay_growth(member_client, razorpay)
    assert (order.amount_paise, order.gst_paise, order.charged_paise) == (
        5_000_00,
        900_00,
        5_900_00,
    )
    invoice = TaxDocument.objects.get(order=order)
    year = invoice.issued_on.year if invoice.issued_on.month >= 4 else invoice.issued_on.year - 1
    assert invoice.number == f"INV/{year % 100:02d}-{(year + 1) % 100:02d}/000001"
    assert len(invoice.number) <= 16
    assert (invoice.supplier_gstin, invoice.recipient_gstin) == ("29AAACA1234A1ZG", CLINIC_GSTIN)
    assert invoice.recipient_legal_name == "Glow Skin Clinic Pvt Ltd"
    assert (invoice.place_of_supply, invoice.sac) == ("27", "998365")
    assert invoice.description == "Prepaid lead credits: 5,500 credits"
    assert (invoice.taxable_paise, invoice.cgst_paise, invoice.sgst_paise, invoice.igst_paise) == (
        5_000_00,
        0,
        0,
        900_00,
    )
    assert invoice.total_paise == payment["amount"] == 5_900_00
    assert invoice.total_in_words == "Rupees Five Thousand Nine Hundred Only"
    assert invoice.razorpay_payment_id == payment["id"]


def test_within_the_suppliers_state_the_invoice_has_cgst_and_sgst(member_client, razorpay, clinic):
    ClinicTaxDetails.objects.filter(clinic=clinic).update(state_code="29")
    order, _ = pay_growth(member_client, razorpay)
    invoice = TaxDocument.objects.get(order=order)
    assert (invoice.cgst_paise, invoice.sgst_paise, invoice.igst_paise) == (450_00, 450_00, 0)
    # No legal name given: the clinic's name; no GSTIN: an unregistered (B2C) recipient.
    assert (invoice.recipient_legal_name, invoice.recipient_gstin) == (clinic.name, "")


def test_a_discount_applies_before_tax(member_client, razorpay, clinic):
    from payments.models import PromoCode

    PromoCode.objects.create(code="TEN", discount_value=10)
    order_id = new_order(member_client, razorpay, package=growth().pk, promo_code="TEN")
    order = PaymentOrder.objects.get(razorpay_order_id=order_id)
    assert (order.amount_paise, order.gst_paise) == (4_500_00, 810_00)
    assert razorpay.orders[order_id]["amount"] == 5_310_00


def test_a_later_edit_of_the_tax_details_changes_no_issued_invoice(
    member_client, razorpay, registered
):
    order, _ = pay_growth(member_client, razorpay)
    payments.save_tax_details(
        clinic=registered, legal_name="Renamed Ltd", address="", state_code="29", gstin=""
    )
    invoice = TaxDocument.objects.get(order=order)
    assert (invoice.recipient_legal_name, invoice.place_of_supply) == (
        "Glow Skin Clinic Pvt Ltd",
        "27",
    )


def test_an_order_made_before_gst_keeps_its_receipt_and_gets_no_invented_invoice(
    member_client, razorpay, clinic
):
    order_id = new_order(member_client, razorpay, package=growth().pk)
    # As an order created before this change: no place of supply, no GST.
    PaymentOrder.objects.filter(razorpay_order_id=order_id).update(
        place_of_supply="", gst_paise=0, gst_rate_bp=None
    )
    razorpay.orders[order_id]["amount"] = 5_000_00
    payment = razorpay.pay(order_id)
    assert verify(member_client, order_id, payment["id"]).status_code == 200
    order = PaymentOrder.objects.get(razorpay_order_id=order_id)
    assert order.status == PaymentOrder.Status.PAID
    assert not TaxDocument.objects.exists()
    assert member_client.get(f"/clinic/payments/{order.pk}/receipt").status_code == 200
    assert member_client.get(f"/clinic/payments/{order.pk}/invoice.pdf").status_code == 404


def test_a_refused_second_payment_consumes_no_number(member_client, razorpay, clinic):
    order, _ = pay_growth(member_client, razorpay)
    with pytest.raises(AntidoteError, match="already paid by another payment"):
        payments.settle_paid_order(order=order, payment_id="pay_second", source="test")
    pay_growth(member_client, razorpay)
    numbers = list(TaxDocument.objects.order_by("sequence").values_list("sequence", flat=True))
    assert numbers == [1, 2]
    assert TaxDocumentCounter.objects.get().last_number == 2


_payment_ids = iter(range(1, 10**6))


def _paid_order(clinic, when: datetime) -> PaymentOrder:
    return PaymentOrder.objects.create(
        clinic=clinic,
        base_amount_paise=1_000_00,
        amount_paise=1_000_00,
        gst_paise=180_00,
        gst_rate_bp=1800,
        place_of_supply="27",
        credits=1_000,
        status=PaymentOrder.Status.PAID,
        razorpay_payment_id=f"pay_{next(_payment_ids)}",
        paid_at=when,
    )


def test_numbering_restarts_on_the_first_of_april_in_india(clinic):
    march = datetime(2027, 3, 31, 23, 59, tzinfo=IST)
    april = datetime(2027, 4, 1, 0, 0, tzinfo=IST)
    # 1 April 00:00 in India is still 31 March in UTC: the Indian date decides.
    assert april.astimezone(ZoneInfo("UTC")).day == 31
    issued = []
    for when in (march, march, april, april):
        with transaction.atomic():
            issued.append(documents.issue_invoice(order=_paid_order(clinic, when)).number)
    assert issued == [
        "INV/26-27/000001",
        "INV/26-27/000002",
        "INV/27-28/000001",
        "INV/27-28/000002",
    ]


def test_the_database_refuses_a_duplicate_number_or_heads_that_do_not_add_up(clinic):
    with transaction.atomic():
        invoice = documents.issue_invoice(
            order=_paid_order(clinic, datetime(2027, 1, 5, tzinfo=IST))
        )
    other = _paid_order(clinic, datetime(2027, 1, 6, tzinfo=IST))
    fields = {
        f.name: getattr(invoice, f.name)
        for f in TaxDocument._meta.concrete_fields
        if f.name not in ("id", "order")
    }
    with pytest.raises(IntegrityError), transaction.atomic():
        TaxDocument.objects.create(**fields, order=other)  # same series, year and number
    with pytest.raises(IntegrityError), transaction.atomic():
        TaxDocument.objects.create(**{**fields, "sequence": 99, "igst_paise": 1}, order=other)


def test_the_clinic_sees_its_invoice_as_html_and_pdf_with_both_gstins_and_totals(
    member_client, razorpay, registered
):
    order, payment = pay_growth(member_client, razorpay)
    invoice = TaxDocument.objects.get()
    page = member_client.get(f"/clinic/payments/{order.pk}/invoice").content.decode()
    for text in (invoice.number, "29AAACA1234A1ZG", CLINIC_GSTIN, "₹5,900", "IGST @ 18%"):
        assert text in page
    assert "Rupees Five Thousand Nine Hundred Only" in page
    response = member_client.get(f"/clinic/payments/{order.pk}/invoice.pdf")
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages)
    for expected in (
        invoice.number,
        "29AAACA1234A1ZG",
        CLINIC_GSTIN,
        "Rs. 5,000.00",
        "Rs. 900.00",
        "Rs. 5,900.00",
        "Rupees Five Thousand Nine Hundred Only",
        payment["id"],
        "998365",
        "Maharashtra (27)",
    ):
        assert expected in text, expected


def test_another_clinic_gets_a_404_for_an_invoice_not_its_own(member_client, razorpay, clinic):
    order, _ = pay_growth(member_client, razorpay)
    stranger = Client()
    stranger.force_login(ClinicMemberFactory(clinic=ClinicFactory()).user)
    for suffix in ("invoice", "invoice.pdf"):
        assert stranger.get(f"/clinic/payments/{order.pk}/{suffix}").status_code == 404


def test_staff_open_any_document_from_the_admin_and_the_report(
    member_client, razorpay, clinic, otp_login
):
    _order, _ = pay_growth(member_client, razorpay)
    invoice = TaxDocument.objects.get()
    admin = Client()
    otp_login(admin, StaffFactory(is_superuser=True))
    listing = admin.get("/admin/payments/taxdocument/").content.decode()
    assert invoice.number in listing
    assert admin.get(f"/admin/payments/taxdocument/{invoice.pk}/html/").status_code == 200
    pdf = admin.get(f"/admin/payments/taxdocument/{invoice.pk}/pdf/")
    assert pdf["Content-Type"] == "application/pdf"
    month = invoice.issued_on.strftime("%Y-%m")
    report = admin.get(f"/admin/payments/taxdocument/gst-report/?month={month}")
    assert "₹5,900" in report.content.decode()
    assert admin.get("/admin/payments/taxdocument/gst-report/?month=2026-13").status_code == 200
    assert admin.get("/admin/payments/taxdocument/999999/pdf/").status_code == 404


def test_a_refund_at_razorpay_after_an_invoice_gets_a_credit_note_head_by_head(
    member_client, razorpay, registered
):
    _order, payment = pay_growth(member_client, razorpay)
    refund_event(member_client, razorpay.refund(payment["id"], 1_180_00))
    invoice = TaxDocument.objects.get(kind="invoice")
    note = TaxDocument.objects.get(kind="credit_note")
    assert note.original == invoice and note.refund.razorpay_id.startswith("rfnd_")
    assert note.number.startswith("CN/") and note.sequence == 1
    assert (note.taxable_paise, note.igst_paise, note.total_paise) == (1_000_00, 180_00, 1_180_00)
    # A duplicate webhook issues no second note.
    refund_event(member_client, razorpay.refund(payment["id"], 4_720_00))
    assert TaxDocument.objects.filter(kind="credit_note").count() == 2
    assert (
        sum(TaxDocument.objects.filter(kind="credit_note").values_list("total_paise", flat=True))
        == invoice.total_paise
    )


def test_the_report_ties_out_to_the_documents(member_client, razorpay, clinic, tmp_path):
    other = ClinicFactory(billing_state="29")
    payments.save_tax_details(
        clinic=other, legal_name="B2B Ltd", address="", state_code="27", gstin=CLINIC_GSTIN
    )
    other_client = Client()
    other_client.force_login(ClinicMemberFactory(clinic=other).user)
    _, first = pay_growth(member_client, razorpay)
    pay_growth(member_client, razorpay)
    pay_growth(other_client, razorpay)
    refund_event(member_client, razorpay.refund(first["id"], 590_00))
    day = TaxDocument.objects.first().issued_on
    report = gst_report(month=day)
    invoices = TaxDocument.objects.filter(kind="invoice")
    notes = TaxDocument.objects.filter(kind="credit_note")
    for head in ("taxable_paise", "cgst_paise", "sgst_paise", "igst_paise", "total_paise"):
        assert report.invoice_totals[head] == sum(getattr(d, head) for d in invoices)
        assert report.credit_note_totals[head] == sum(getattr(d, head) for d in notes)
        assert report.invoice_totals[head] == (
            sum(getattr(d, head) for d in report.b2b) + sum(r[head] for r in report.b2c)
        )
    assert [d.recipient_gstin for d in report.b2b] == [CLINIC_GSTIN]
    assert [(r["place_of_supply"], r["count"]) for r in report.b2c] == [("27", 2)]
    out = tmp_path / "gst.csv"
    code, output = run_command("gst_report", "--month", f"{day:%Y-%m}", "--out", str(out))
    assert code == 0, output
    lines = out.read_text().splitlines()
    assert len(lines) == len(list(gst_report_rows(report)))
    # Three ₹5,000 invoices with 18% GST; one ₹590 credit note.
    assert lines[-3] == "total_invoices,,,,,,,3,1500000,0,0,270000,1770000,"
    assert lines[-2] == "total_credit_notes,,,,,,,1,50000,0,0,9000,59000,"


@pytest.fixture
def refunded(member_client, razorpay, registered):
    """A paid order with its invoice, and a credit note for ₹1,180 that went back."""
    order, payment = pay_growth(member_client, razorpay)
    refund_event(member_client, razorpay.refund(payment["id"], 1_180_00))
    return order, TaxDocument.objects.get(kind="credit_note")


def test_the_clinic_sees_its_credit_notes_from_the_payments_page(member_client, refunded):
    _order, note = refunded
    history = member_client.get("/clinic/payments").content.decode()
    assert f'href="/clinic/credit-notes/{note.pk}"' in history and note.number in history
    page = member_client.get(f"/clinic/credit-notes/{note.pk}").content.decode()
    assert note.number in page and note.original.number in page and "₹1,180" in page
    response = member_client.get(f"/clinic/credit-notes/{note.pk}.pdf")
    assert response["Content-Type"] == "application/pdf"
    assert note.number in PdfReader(io.BytesIO(response.content)).pages[0].extract_text()
    # A credit note's id is not an order's invoice, nor the other way round.
    invoice = note.original
    assert member_client.get(f"/clinic/credit-notes/{invoice.pk}").status_code == 404


def test_another_clinic_gets_a_404_for_a_credit_note_not_its_own(refunded):
    _order, note = refunded
    stranger = Client()
    stranger.force_login(ClinicMemberFactory(clinic=ClinicFactory()).user)
    for suffix in ("", ".pdf"):
        assert stranger.get(f"/clinic/credit-notes/{note.pk}{suffix}").status_code == 404


def test_the_api_lists_invoices_and_credit_notes_with_their_pdfs(clinic, refunded):
    order, note = refunded
    owner = clinic.members.get().user
    token = api_keys.create_api_key(clinic=clinic, name="Books", scope="read", actor=owner).token
    client = ApiClient(token)
    rows = client.get("/api/v1/tax-documents/").json()["results"]
    assert [(r["kind"], r["number"]) for r in rows] == [
        ("credit_note", note.number),
        ("invoice", note.original.number),
    ]
    assert rows[0] | {"id": 0} == {
        "id": 0,
        "kind": "credit_note",
        "number": note.number,
        "issued_on": note.issued_on.isoformat(),
        "payment": order.pk,
        "original": note.original.number,
        "recipient_legal_name": "Glow Skin Clinic Pvt Ltd",
        "recipient_gstin": CLINIC_GSTIN,
        "place_of_supply": "27",
        "sac": note.sac,
        "credits": note.credits,
        "taxable_paise": 1_000_00,
        "rate_bp": 1800,
        "cgst_paise": 0,
        "sgst_paise": 0,
        "igst_paise": 180_00,
        "total_paise": 1_180_00,
        "url": f"/clinic/credit-notes/{note.pk}",
        "pdf": f"/api/v1/tax-documents/{note.pk}/pdf/",
    }
    assert rows[1]["original"] is None and rows[1]["url"] == f"/clinic/payments/{order.pk}/invoice"
    assert client.get(f"/api/v1/tax-documents/{note.pk}/").json()["number"] == note.number
    pdf = client.get(rows[1]["pdf"])
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")


def test_another_clinics_api_key_sees_none_of_these_documents(refunded):
    _order, note = refunded
    other = ClinicFactory()
    owner = ClinicMemberFactory(clinic=other).user
    client = ApiClient(
        api_keys.create_api_key(clinic=other, name="Books", scope="read", actor=owner).token
    )
    assert client.get("/api/v1/tax-documents/").json()["results"] == []
    for path in (f"{note.pk}/", f"{note.pk}/pdf/", f"{note.original.pk}/pdf/"):
        response = client.get(f"/api/v1/tax-documents/{path}")
        assert response.status_code == 404 and response["Content-Type"].startswith(
            "application/problem+json"
        )
    assert ApiClient().get(f"/api/v1/tax-documents/{note.pk}/pdf/").status_code == 401
