"""A tax document as a PDF, drawn with ReportLab.

ReportLab is pure Python (plus Pillow): it installs from a wheel on a fresh machine with no
system libraries, where WeasyPrint needs Pango, Cairo and their fonts. Its built-in Helvetica
has no rupee sign, so amounts print as "Rs."; the document's text is what the law asks for.
"""

from io import BytesIO

from django.http import HttpResponse
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from payments import gst
from payments.models import TaxDocument


def rupees(paise: int) -> str:
    """Indian grouping, two decimals, for print: 123456789 → "Rs. 12,34,567.89"."""
    whole, rest = divmod(paise, 100)
    digits = str(whole)
    head, tail = digits[:-3], digits[-3:]
    groups = []
    while len(head) > 2:
        groups.insert(0, head[-2:])
        head = head[:-2]
    if head:
        groups.insert(0, head)
    return "Rs. " + ",".join([*groups, tail]) + f".{rest:02d}"


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def tax_document_pdf(document: TaxDocument) -> bytes:
    styles = getSampleStyleSheet()
    normal, heading = styles["Normal"], styles["Heading1"]
    buffer = BytesIO()
    pdf = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=f"{document.get_kind_display()} {document.number}",
        author=document.supplier_legal_name,
    )

    def para(text: str) -> Paragraph:
        return Paragraph(_esc(text).replace("\n", "<br/>"), normal)

    story = [Paragraph(_esc(document.get_kind_display()), heading)]
    header = [
        ["Number", document.number, "Date", document.issued_on.strftime("%d %b %Y")],
    ]
    if document.original_id:
        header.append(
            [
                "Against invoice",
                document.original.number,
                "Of",
                str(document.original.issued_on.strftime("%d %b %Y")),
            ]
        )
    story.append(Table(header, hAlign="LEFT"))
    story.append(Spacer(1, 6 * mm))
    parties = Table(
        [
            [Paragraph("<b>Supplier</b>", normal), Paragraph("<b>Recipient</b>", normal)],
            [para(document.supplier_legal_name), para(document.recipient_legal_name)],
            [para(document.supplier_address), para(document.recipient_address or "-")],
            [
                para(f"GSTIN: {document.supplier_gstin}"),
                para(f"GSTIN: {document.recipient_gstin or 'Unregistered'}"),
            ],
            [
                para(f"State: {gst.state_label(document.supplier_state_code)}"),
                para(f"Place of supply: {gst.state_label(document.place_of_supply)}"),
            ],
        ],
        colWidths=[87 * mm, 87 * mm],
    )
    parties.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story += [parties, Spacer(1, 6 * mm)]
    rate = document.rate_bp
    rows = [
        ["Description", "SAC", "Taxable value"],
        [para(document.description), document.sac, rupees(document.taxable_paise)],
    ]
    if document.interstate:
        rows.append([f"IGST @ {rate / 100:g}%", "", rupees(document.igst_paise)])
    else:
        rows.append([f"CGST @ {rate / 200:g}%", "", rupees(document.cgst_paise)])
        rows.append([f"SGST @ {rate / 200:g}%", "", rupees(document.sgst_paise)])
    rows.append(["Total", "", rupees(document.total_paise)])
    lines = Table(rows, colWidths=[110 * mm, 24 * mm, 40 * mm])
    lines.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                ("ALIGN", (2, 0), (2, -1), "RIGHT"),
                ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                ("FONTNAME", (0, -1), (-1, -1), "Helvetica-Bold"),
            ]
        )
    )
    story += [
        lines,
        Spacer(1, 4 * mm),
        para(f"Total in words: {gst.amount_in_words(document.total_paise)}"),
        para(f"Razorpay payment: {document.razorpay_payment_id}"),
    ]
    if document.kind == TaxDocument.Kind.INVOICE:
        story.append(para("Tax is not payable on reverse charge."))
    pdf.build(story)
    return buffer.getvalue()


def tax_document_pdf_response(document: TaxDocument) -> HttpResponse:
    """A file we serve back (portal and API): an attachment, never sniffed, sandboxed if
    opened."""
    response = HttpResponse(tax_document_pdf(document), content_type="application/pdf")
    name = document.number.replace("/", "-")
    response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response
