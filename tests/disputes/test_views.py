"""Disputes in the portal, private evidence, the admin review queue and the staff paths."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from billing.models import CreditTransaction, Kind
from billing.selectors import account_balance
from disputes import services
from disputes.models import Dispute
from leads import services as leads
from tests.disputes.conftest import DESCRIPTION, PDF, PNG
from tests.factories import ClinicFactory, ClinicMemberFactory, StaffFactory, fund
from tests.otp import login_with_otp

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/disputes/dispute/"


@pytest.fixture
def portal(client, member):
    client.force_login(member)
    return client


def form(**overrides):
    data = {"dispute_type": "invalid_contact", "description": DESCRIPTION}
    data.update(overrides)
    return data


def open_(lead, **kw):
    return services.open_dispute(
        lead=lead, user=None, dispute_type="invalid_contact", description=DESCRIPTION, **kw
    )


# Clinic side --------------------------------------------------------------------------------


def test_clinic_opens_a_dispute_with_evidence_from_the_lead(portal, charged_lead):
    page = portal.get(f"/clinic/leads/{charged_lead.pk}")
    assert f'href="/clinic/disputes/create/{charged_lead.pk}"' in page.text
    assert f'href="/clinic/disputes/create/{charged_lead.pk}"' in portal.get("/clinic/leads").text
    response = portal.post(
        f"/clinic/disputes/create/{charged_lead.pk}",
        form(evidence=[SimpleUploadedFile("log.png", PNG)]),
    )
    assert response.status_code == 302
    assert response["Location"] == "/clinic/disputes"
    dispute = Dispute.objects.get()
    assert (dispute.lead, dispute.status, dispute.evidence.count()) == (charged_lead, "pending", 1)
    listing = portal.get("/clinic/disputes").text
    assert "Pending review" in listing
    assert "Invalid contact details" in listing


def test_htmx_create_works_in_place_from_the_inbox(portal, charged_lead):
    url = f"/clinic/disputes/create/{charged_lead.pk}"
    panel = portal.get(url, HTTP_HX_REQUEST="true")
    assert panel.text.lstrip().startswith('<div id="dispute-panel"')
    assert "<html" not in panel.text
    bad = portal.post(url, form(description="short"), HTTP_HX_REQUEST="true")
    assert bad.status_code == 400
    assert bad.text.lstrip().startswith('<div id="dispute-panel"')
    done = portal.post(url, form(), HTTP_HX_REQUEST="true")
    assert done.status_code == 200
    assert 'data-testid="dispute-opened"' in done.text
    assert "Pending review" in done.text
    assert Dispute.objects.get().lead == charged_lead


def test_another_clinics_lead_is_404(portal):
    other = ClinicFactory()
    fund(other, 1_000)
    theirs = leads.submit_enquiry(clinic=other, name="X", phone="9000000009")
    assert portal.get(f"/clinic/disputes/create/{theirs.pk}").status_code == 404
    assert portal.post(f"/clinic/disputes/create/{theirs.pk}", form()).status_code == 404
    assert not Dispute.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (form(description="short"), "at least 20 characters"),
        (form(dispute_type="nonsense"), "Select a valid choice"),
        (form(evidence=[SimpleUploadedFile("x.png", b"not an image at all")]), "not an image"),
    ],
)
def test_bad_dispute_forms_are_re_rendered_with_errors(portal, charged_lead, data, message):
    response = portal.post(f"/clinic/disputes/create/{charged_lead.pk}", data)
    assert response.status_code == 400
    assert message in response.text
    assert not Dispute.objects.exists()


def test_refusals_show_a_clear_message_and_no_form(portal, clinic):
    held = leads.submit_enquiry(clinic=clinic, name="H", phone="9000000001")
    response = portal.get(f"/clinic/disputes/create/{held.pk}")
    assert response.status_code == 400
    assert "held and not yet charged" in response.text
    assert 'id="dispute-form"' not in response.text
    assert portal.post(f"/clinic/disputes/create/{held.pk}", form()).status_code == 400
    assert not Dispute.objects.exists()


def test_second_dispute_on_a_lead_is_refused(portal, charged_lead):
    open_(charged_lead)
    response = portal.post(f"/clinic/disputes/create/{charged_lead.pk}", form())
    assert response.status_code == 400
    assert "already has a dispute" in response.text
    assert Dispute.objects.count() == 1


def test_cancel_by_htmx_swaps_the_row(portal, charged_lead):
    dispute = open_(charged_lead)
    response = portal.post(f"/clinic/disputes/{dispute.pk}/cancel", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response.text.lstrip().startswith(f'<tr id="dispute-{dispute.pk}"')
    assert "Cancelled by clinic" in response.text
    again = portal.post(f"/clinic/disputes/{dispute.pk}/cancel", HTTP_HX_REQUEST="true")
    assert again.status_code == 400
    assert "Only a pending dispute" in again.text


def test_cancel_of_another_clinics_dispute_is_404(portal):
    other = ClinicFactory()
    fund(other, 1_000)
    dispute = open_(leads.submit_enquiry(clinic=other, name="X", phone="9000000009"))
    assert portal.post(f"/clinic/disputes/{dispute.pk}/cancel").status_code == 404
    dispute.refresh_from_db()
    assert dispute.status == "pending"


def test_dispute_list_filters_and_shows_quality_and_refunds(portal, charged_lead, staff):
    dispute = open_(charged_lead)
    services.approve_dispute(dispute=dispute, actor=staff)
    page = portal.get("/clinic/disputes?status=approved").text
    assert "+100" in page
    assert 'data-testid="quality">Poor<' in page  # 1 dispute on 1 lead
    assert "No disputes." in portal.get("/clinic/disputes?status=rejected").text


@pytest.mark.parametrize("url", ["/clinic/disputes", "/clinic/disputes/create/1"])
def test_anonymous_visitors_are_sent_to_login(client, url):
    assert client.get(url).status_code == 302


def test_evidence_is_served_only_to_its_clinic_and_to_staff(client, charged_lead, member, reviewer):
    dispute = open_(charged_lead, evidence=[SimpleUploadedFile("log.png", PNG)])
    url = f"/disputes/evidence/{dispute.evidence.get().pk}"
    assert client.get(url).status_code == 302  # anonymous: log in first
    # Another clinic cannot even learn that the file exists.
    client.force_login(ClinicMemberFactory(clinic=ClinicFactory()).user)
    assert client.get(url).status_code == 404
    login_with_otp(client, StaffFactory(username="no-perm"))
    assert client.get(url).status_code == 404
    for user in (member, reviewer):
        login_with_otp(client, user)
        response = client.get(url)
        assert response.status_code == 200
        assert response["Content-Type"] == "image/png"
        assert b"".join(response.streaming_content) == PNG


@pytest.mark.parametrize(
    ("upload", "content", "content_type", "extension"),
    [
        ("evil.html", PNG, "image/png", "png"),
        ('report"; filename=x.html.pdf', PDF, "application/pdf", "pdf"),
    ],
)
def test_evidence_is_a_sandboxed_attachment_never_a_page_of_our_site(
    client, charged_lead, member, reviewer, upload, content, content_type, extension
):
    dispute = open_(charged_lead, evidence=[SimpleUploadedFile(upload, content)])
    evidence = dispute.evidence.get()
    for user in (member, reviewer):  # the clinic's link and the admin's link are one view
        login_with_otp(client, user)
        response = client.get(f"/disputes/evidence/{evidence.pk}")
        assert response.status_code == 200
        name = f"dispute-{dispute.pk}-1.{extension}"
        assert response["Content-Disposition"] == f'attachment; filename="{name}"'
        assert response["Content-Type"] == content_type
        assert response["Content-Security-Policy"] == "sandbox"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert b"".join(response.streaming_content) == content


# Staff side -------------------------------------------------------------------------------


def act(client, action, disputes, **extra):
    data = {"action": action, ACTION_CHECKBOX_NAME: [d.pk for d in disputes], **extra}
    return client.post(CHANGELIST, data, follow=True)


def test_review_queue_lists_filters_and_searches(client, reviewer, charged_lead):
    dispute = open_(charged_lead)
    login_with_otp(client, reviewer)
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert "Poor (1/1 leads, 100%)" in page.text
    assert client.get(f"{CHANGELIST}?status__exact=pending").context["cl"].result_count == 1
    assert client.get(f"{CHANGELIST}?status__exact=approved").context["cl"].result_count == 0
    assert client.get(f"{CHANGELIST}?age=1").context["cl"].result_count == 1
    assert client.get(f"{CHANGELIST}?q=9876543210").context["cl"].result_count == 1
    assert client.get(f"{CHANGELIST}?q={charged_lead.pk}").context["cl"].result_count == 1
    change = client.get(f"{CHANGELIST}{dispute.pk}/change/")
    assert change.status_code == 200
    assert "Audit trail" in change.text
    assert "opened" in change.text


def test_approve_full_action_refunds_and_reports_per_dispute(client, reviewer, clinic):
    fund(clinic, 1_000)
    a = open_(leads.submit_enquiry(clinic=clinic, name="A", phone="9000000001"))
    b = open_(leads.submit_enquiry(clinic=clinic, name="B", phone="9000000002"))
    services.reject_dispute(dispute=b, actor=reviewer, notes="no")
    login_with_otp(client, reviewer)
    response = act(client, "approve_full", [a, b], confirm="yes")
    texts = [str(m) for m in response.context["messages"]]
    assert f"Dispute #{a.pk}: Approved: refunded." in texts
    assert any(f"Dispute #{b.pk}" in t and "cannot be decided again" in t for t in texts)
    assert account_balance(clinic=clinic) == 1_000 - 200 + 100
    assert a.events.last().actor == reviewer


def test_actions_need_the_decide_permission(client, charged_lead):
    dispute = open_(charged_lead)
    viewer = StaffFactory(username="viewer")
    from django.contrib.auth.models import Permission

    viewer.user_permissions.add(Permission.objects.get(codename="view_dispute"))
    login_with_otp(client, viewer)
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert "approve_full" not in page.text
    act(client, "approve_full", [dispute], confirm="yes")
    dispute.refresh_from_db()
    assert dispute.status == "pending"
    assert not CreditTransaction.objects.filter(kind=Kind.DISPUTE_REFUND).exists()


def test_partial_refund_asks_for_the_amount_first(client, reviewer, charged_lead):
    dispute = open_(charged_lead)
    login_with_otp(client, reviewer)
    ask = act(client, "approve_partial", [dispute])
    assert "Review the refunds" in ask.text
    too_much = act(
        client,
        "approve_partial",
        [dispute],
        apply="1",
        confirm="yes",
        **{f"{dispute.pk}-credits": 500},
    )
    assert any("at most 100" in str(m) for m in too_much.context["messages"])
    dispute.refresh_from_db()
    assert dispute.status == "pending"
    act(
        client,
        "approve_partial",
        [dispute],
        apply="1",
        confirm="yes",
        **{f"{dispute.pk}-credits": 30},
    )
    dispute.refresh_from_db()
    assert (dispute.status, dispute.refund_credits) == ("approved", 30)
    assert account_balance(clinic=charged_lead.clinic) == 930


def test_partial_refund_with_a_nonsense_amount_asks_again(client, reviewer, charged_lead):
    dispute = open_(charged_lead)
    login_with_otp(client, reviewer)
    again = act(client, "approve_partial", [dispute], apply="1", **{f"{dispute.pk}-credits": "x"})
    assert "Review the refunds" in again.text
    dispute.refresh_from_db()
    assert dispute.status == "pending"


def test_reject_requires_notes_on_an_intermediate_page(client, reviewer, charged_lead):
    dispute = open_(charged_lead)
    login_with_otp(client, reviewer)
    assert "Notes for the clinic" in act(client, "reject", [dispute]).text
    assert "This field is required" in act(client, "reject", [dispute], apply="1", notes="").text
    act(client, "reject", [dispute], apply="1", notes="We spoke to the patient.")
    dispute.refresh_from_db()
    assert (dispute.status, dispute.admin_notes) == ("rejected", "We spoke to the patient.")


def test_documented_staff_paths(client, reviewer, charged_lead):
    dispute = open_(charged_lead)
    login_with_otp(client, reviewer)
    assert client.get("/admin/disputes")["Location"] == CHANGELIST
    bad = client.post(f"/admin/disputes/{dispute.pk}/resolve", {"status": "maybe"})
    assert bad.status_code == 400
    nonsense = client.post(
        f"/admin/disputes/{dispute.pk}/resolve", {"status": "approved", "refund_amount": "1.5"}
    )
    assert nonsense.status_code == 400
    ok = client.post(
        f"/admin/disputes/{dispute.pk}/resolve",
        {"status": "approved", "refund_amount": "60", "admin_notes": "Half-checked."},
    )
    assert ok.status_code == 302
    dispute.refresh_from_db()
    assert (dispute.status, dispute.refund_credits, dispute.admin_notes) == (
        "approved",
        60,
        "Half-checked.",
    )
    again = client.post(
        f"/admin/disputes/{dispute.pk}/resolve", {"status": "rejected", "admin_notes": "x"}
    )
    assert again.status_code == 400
    assert "cannot be decided again" in again.text


def test_staff_resolve_path_refuses_without_permission_or_csrf(client, charged_lead, reviewer):
    dispute = open_(charged_lead)
    login_with_otp(client, StaffFactory(username="plain-staff"))
    assert (
        client.post(f"/admin/disputes/{dispute.pk}/resolve", {"status": "approved"}).status_code
        == 403
    )
    client.force_login(ClinicMemberFactory(clinic=charged_lead.clinic).user)
    assert (
        client.post(f"/admin/disputes/{dispute.pk}/resolve", {"status": "approved"}).status_code
        == 302
    )
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    login_with_otp(strict, reviewer)
    assert (
        strict.post(f"/admin/disputes/{dispute.pk}/resolve", {"status": "approved"}).status_code
        == 403
    )
    dispute.refresh_from_db()
    assert dispute.status == "pending"
    assert mail.outbox == []
