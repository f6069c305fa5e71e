"""GST tax documents: tax invoices at settlement, credit notes when money goes back.

``GST_TREATMENT=invoice_at_payment`` (the default and, for now, the only treatment): the sale
of credits is the supply, so a paid order gets a tax invoice in the transaction that settles
it, and a refund gets a credit note (CGST Act s.34). Numbers come from one counter row per
series and financial year, locked in the issuing transaction: a rolled-back settlement gives
its number back, and concurrent settlements queue on the row, so the series has no gap.
"""

from datetime import date

from django.conf import settings
from django.utils import timezone

from antidote.errors import AntidoteError
from payments import gst
from payments.models import ClinicTaxDetails, PaymentOrder, TaxDocument, TaxDocumentCounter

INVOICE_SERIES = "invoice"
CREDIT_NOTE_SERIES = "credit_note"


def _prefix(series: str) -> str:
    return {
        INVOICE_SERIES: settings.GST_INVOICE_PREFIX,
        CREDIT_NOTE_SERIES: settings.GST_CREDIT_NOTE_PREFIX,
    }[series]


def next_number(*, series: str, on: date) -> tuple[int, int, str]:
    """The next number of a series in the financial year of ``on``: (year, sequence, text).

    Must run inside the transaction that saves the document; the counter row stays locked
    until it commits or rolls back.
    """
    year = gst.financial_year(on)
    counter, _ = TaxDocumentCounter.objects.select_for_update().get_or_create(
        series=series, financial_year=year
    )
    counter.last_number += 1
    counter.save(update_fields=["last_number"])
    text = f"{_prefix(series)}/{gst.financial_year_label(year)}/{counter.last_number:06d}"
    if len(text) > 16:
        raise AntidoteError(f"The {series} series of {year} is full: {text} is over 16 characters.")
    return year, counter.last_number, text


def _supplier() -> dict:
    return {
        "supplier_legal_name": settings.GST_SUPPLIER_LEGAL_NAME,
        "supplier_gstin": settings.GST_SUPPLIER_GSTIN,
        "supplier_state_code": settings.GST_SUPPLIER_STATE_CODE,
        "supplier_address": settings.GST_SUPPLIER_ADDRESS,
    }


def issue_invoice(*, order: PaymentOrder) -> TaxDocument:
    """The tax invoice of a paid order, issued once; call it in the settling transaction."""
    existing = TaxDocument.objects.filter(order=order, kind=TaxDocument.Kind.INVOICE).first()
    if existing is not None:
        return existing
    details = ClinicTaxDetails.objects.filter(clinic=order.clinic).first()
    tax = gst.compute_tax(
        taxable_paise=order.amount_paise,
        rate_bp=order.gst_rate_bp or 0,
        supplier_state=settings.GST_SUPPLIER_STATE_CODE,
        place_of_supply=order.place_of_supply,
    )
    if tax.tax_paise != order.gst_paise:
        # The supplier's state changed between quote and payment: what was charged stands,
        # split as the order's own total.
        tax = gst.split_tax(
            tax_paise=order.gst_paise,
            taxable_paise=order.amount_paise,
            rate_bp=order.gst_rate_bp or 0,
            interstate=tax.interstate,
        )
    on = timezone.localdate(order.paid_at or timezone.now())
    year, sequence, number = next_number(series=INVOICE_SERIES, on=on)
    credits = order.total_credits
    return TaxDocument.objects.create(
        kind=TaxDocument.Kind.INVOICE,
        series=INVOICE_SERIES,
        financial_year=year,
        sequence=sequence,
        number=number,
        issued_on=on,
        order=order,
        **_supplier(),
        recipient_legal_name=(details.legal_name if details else "") or order.clinic.name,
        recipient_address=details.address if details else "",
        recipient_gstin=details.gstin if details else "",
        place_of_supply=order.place_of_supply,
        sac=settings.GST_SAC,
        description=f"Prepaid lead credits: {credits:,} credits",
        credits=credits,
        taxable_paise=tax.taxable_paise,
        rate_bp=tax.rate_bp,
        cgst_paise=tax.cgst_paise,
        sgst_paise=tax.sgst_paise,
        igst_paise=tax.igst_paise,
        total_paise=tax.total_paise,
        razorpay_payment_id=order.razorpay_payment_id or "",
    )


def issue_credit_note(*, invoice: TaxDocument, refund, refunded_paise: int, credits: int):
    """A credit note for money that went back after ``invoice``: ``refunded_paise`` is what
    was returned including GST; it is split back into taxable value and heads."""
    earlier = invoice.credit_notes.all()
    already = sum(note.total_paise for note in earlier)
    if refunded_paise <= 0 or already + refunded_paise > invoice.total_paise:
        raise AntidoteError(
            f"A credit note of {refunded_paise} paise would pass invoice {invoice.number}'s "
            f"total of {invoice.total_paise} paise ({already} paise already credited)."
        )
    # Proportional to the invoice, the tax rounded to the nearest paisa.
    tax_paise = (2 * refunded_paise * invoice.tax_paise + invoice.total_paise) // (
        2 * invoice.total_paise
    )
    tax = gst.split_tax(
        tax_paise=tax_paise,
        taxable_paise=refunded_paise - tax_paise,
        rate_bp=invoice.rate_bp,
        interstate=invoice.igst_paise > 0,
    )
    on = timezone.localdate()
    year, sequence, number = next_number(series=CREDIT_NOTE_SERIES, on=on)
    return TaxDocument.objects.create(
        kind=TaxDocument.Kind.CREDIT_NOTE,
        series=CREDIT_NOTE_SERIES,
        financial_year=year,
        sequence=sequence,
        number=number,
        issued_on=on,
        order=invoice.order,
        original=invoice,
        refund=refund,
        supplier_legal_name=invoice.supplier_legal_name,
        supplier_gstin=invoice.supplier_gstin,
        supplier_state_code=invoice.supplier_state_code,
        supplier_address=invoice.supplier_address,
        recipient_legal_name=invoice.recipient_legal_name,
        recipient_address=invoice.recipient_address,
        recipient_gstin=invoice.recipient_gstin,
        place_of_supply=invoice.place_of_supply,
        sac=invoice.sac,
        description=f"Refund of prepaid lead credits: {credits:,} credits",
        credits=credits,
        taxable_paise=tax.taxable_paise,
        rate_bp=invoice.rate_bp,
        cgst_paise=tax.cgst_paise,
        sgst_paise=tax.sgst_paise,
        igst_paise=tax.igst_paise,
        total_paise=refunded_paise,
        razorpay_payment_id=invoice.razorpay_payment_id,
    )
