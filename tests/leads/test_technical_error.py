"""Flagging a lead as a technical error at the source: never charged, free if it waited,
refunded if it was charged; who and why kept in its history; every refusal."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group, Permission
from django.core import mail
from django.db import IntegrityError, transaction
from django.urls import reverse

from antidote.errors import AntidoteError
from billing import services as billing
from billing.models import CreditTransaction, Kind
from billing.selectors import account_balance
from leads import services
from leads.models import Lead
from leads.selectors import lead_contact
from tests.factories import ClinicFactory, ClinicMemberFactory, PackageFactory, StaffFactory, fund
from tests.otp import login_with_otp

pytestmark = pytest.mark.django_db

REASON = "The enquiry form sent an empty phone field for an hour."


@pytest.fixture
def flagger(db):
    user = StaffFactory(username="flagger")
    user.groups.add(Group.objects.get(name="Dispute reviewers"))
    return user


def enquire(clinic, package=None, phone="9000000001"):
    return services.submit_enquiry(clinic=clinic, package=package, name="Asha", phone=phone)


def flag(lead, actor, reason=REASON):
    return services.flag_technical_error(lead=lead, actor=actor, reason=reason)


def charges():
    return CreditTransaction.objects.filter(kind=Kind.LEAD_CHARGE)


def test_a_waiting_lead_flagged_goes_free_unmasked_and_the_history_says_who_and_why(
    clinic, flagger
):
    lead = enquire(clinic)
    assert lead.billing_state == Lead.Billing.HELD

    result = flag(lead, flagger)

    lead.refresh_from_db()
    assert (lead.billing_state, lead.technical_error) == ("free_tech_error", True)
    assert lead.get_billing_state_display() == "Free: technical error"
    assert result.refunded_credits == 0
    assert not lead_contact(lead).masked
    assert not CreditTransaction.objects.exclude(kind=Kind.PURCHASE).exists()
    last = lead.history.order_by("-history_id").first()
    assert (last.history_user, last.history_change_reason) == (flagger, REASON)
    assert last.billing_state == "free_tech_error"


def test_the_clinic_is_told_when_a_waiting_lead_goes_free(
    clinic, flagger, django_capture_on_commit_callbacks
):
    lead = enquire(clinic)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        flag(lead, flagger)
    assert [m.subject for m in mail.outbox] == [
        f"A waiting enquiry is yours free of charge (lead #{lead.pk})"
    ]
    assert mail.outbox[0].to == [clinic.contact_email]


def test_a_flagged_lead_is_skipped_by_release_and_the_lead_behind_it_moves_up(
    clinic, flagger, django_capture_on_commit_callbacks
):
    dear = PackageFactory(clinic=clinic, price_paise=60_000_00)  # 400 credits
    broken = enquire(clinic, dear, "9000000001")
    good = enquire(clinic, None, "9000000002")  # 100 credits, queued behind the broken one
    fund(clinic, 150)  # the release after this top-up has not run (no on_commit here)

    flag(broken, flagger)  # the broken lead leaves the queue; the good one is now its head

    assert [lead.billing_state for lead in Lead.objects.order_by("pk")] == [
        "free_tech_error",
        "charged",
    ]
    with django_capture_on_commit_callbacks(execute=True):
        fund(clinic, 1_000)
    assert list(charges().values_list("lead_id", flat=True)) == [good.pk]
    assert account_balance(clinic=clinic) == 1_050


def test_a_charged_lead_flagged_is_refunded_what_is_left_once(clinic, flagger):
    fund(clinic, 500)
    lead = enquire(clinic)
    billing.refund_lead_charge(lead=lead, credits=40, idempotency_key="refund:test:1")

    result = flag(lead, flagger)

    assert result.refunded_credits == 60
    refund = CreditTransaction.objects.get(idempotency_key=f"refund:technical-error:lead:{lead.pk}")
    assert (refund.kind, refund.credits, refund.actor, refund.lead_id) == (
        Kind.DISPUTE_REFUND,
        60,
        flagger,
        lead.pk,
    )
    assert REASON in refund.memo
    assert account_balance(clinic=clinic) == 500
    lead.refresh_from_db()
    assert (lead.billing_state, lead.technical_error) == ("charged", True)


def test_a_fully_refunded_lead_is_flagged_with_nothing_posted(clinic, flagger):
    fund(clinic, 500)
    lead = enquire(clinic)
    billing.refund_lead_charge(lead=lead, idempotency_key="refund:test:1")
    entries = CreditTransaction.objects.count()
    assert flag(lead, flagger).refunded_credits == 0
    assert CreditTransaction.objects.count() == entries


def test_staff_without_the_permission_cannot_flag(clinic):
    lead = enquire(clinic)
    for actor in (None, StaffFactory(username="plain"), ClinicMemberFactory(clinic=clinic).user):
        with pytest.raises(AntidoteError, match="Only staff"):
            flag(lead, actor)
    lead.refresh_from_db()
    assert (lead.billing_state, lead.technical_error) == ("held", False)


def test_a_clinic_member_with_the_permission_but_no_staff_status_cannot_flag(clinic):
    member = ClinicMemberFactory(clinic=clinic).user
    member.user_permissions.add(Permission.objects.get(codename="flag_technical_error"))
    with pytest.raises(AntidoteError, match="Only staff"):
        flag(enquire(clinic), member)


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_a_flag_needs_a_reason(clinic, flagger, reason):
    lead = enquire(clinic)
    with pytest.raises(AntidoteError, match="what went wrong"):
        flag(lead, flagger, reason)
    assert not Lead.objects.get(pk=lead.pk).technical_error


def test_a_lead_is_flagged_once(clinic, flagger):
    fund(clinic, 500)
    lead = enquire(clinic)
    flag(lead, flagger)
    entries = CreditTransaction.objects.count()
    with pytest.raises(AntidoteError, match="already flagged"):
        flag(lead, flagger, "Again")
    assert CreditTransaction.objects.count() == entries
    assert lead.history.filter(history_change_reason="Again").count() == 0


def test_a_lead_flagged_but_still_charged_is_refunded_when_flagged_again(clinic, flagger):
    # Reconcile names a flagged lead that is still charged (the old admin action flagged
    # without refunding); flagging it again is how staff put that right, once.
    fund(clinic, 500)
    lead = enquire(clinic)
    Lead.objects.filter(pk=lead.pk).update(technical_error=True)

    assert flag(lead, flagger, "Refund what the old flag kept").refunded_credits == 100
    assert account_balance(clinic=clinic) == 500
    with pytest.raises(AntidoteError, match="already flagged"):
        flag(lead, flagger, "Again")


def test_flagging_one_clinics_lead_leaves_another_clinics_queue_alone(clinic, flagger):
    other = ClinicFactory()
    mine = enquire(clinic)
    theirs = enquire(other)
    flag(mine, flagger)
    theirs.refresh_from_db()
    assert (theirs.billing_state, theirs.technical_error) == ("held", False)


def test_billing_refuses_to_charge_a_flagged_lead(clinic, flagger):
    held = enquire(clinic)
    flag(held, flagger)
    fund(clinic, 500)
    held.refresh_from_db()
    with pytest.raises(AntidoteError, match="never charged"):
        billing.charge_lead(lead=held)
    assert not charges().exists()
    assert account_balance(clinic=clinic) == 500


def test_a_new_lead_is_not_queued_behind_a_flagged_one(clinic, flagger):
    broken = enquire(clinic, phone="9000000001")
    flag(broken, flagger)
    fund(clinic, 500)
    assert enquire(clinic, phone="9000000002").billing_state == Lead.Billing.CHARGED


def test_a_lead_let_go_free_is_no_original_for_duplicates(clinic, flagger):
    broken = enquire(clinic, phone="9000000001")
    flag(broken, flagger)
    fund(clinic, 500)
    assert enquire(clinic, phone="9000000001").billing_state == Lead.Billing.CHARGED


def test_the_database_refuses_a_flagged_lead_that_waits_or_a_free_lead_not_flagged(clinic):
    lead = enquire(clinic)
    with pytest.raises(IntegrityError), transaction.atomic():
        Lead.objects.filter(pk=lead.pk).update(technical_error=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        Lead.objects.filter(pk=lead.pk).update(billing_state="free_tech_error")


# The admin action: a confirmation page with the leads and credits, then one flag per lead.


def changelist():
    return reverse("admin:leads_lead_changelist")


def test_the_admin_action_asks_for_a_reason_showing_leads_and_credits(client, clinic, flagger):
    fund(clinic, 500)
    charged = enquire(clinic, phone="9000000001")
    waiting = enquire(ClinicFactory(name="Lotus"), phone="9000000002")
    login_with_otp(client, flagger)

    page = client.post(
        changelist(),
        {"action": "flag_technical_error", ACTION_CHECKBOX_NAME: [charged.pk, waiting.pk]},
    )

    assert page.status_code == 200
    text = page.content.decode()
    assert f"#{charged.pk}" in text and f"#{waiting.pk}" in text
    assert "refund 100 credits to the clinic" in text
    assert "leaves the queue free of charge" in text
    assert "Credits refunded in all: 100" in text
    assert not Lead.objects.filter(technical_error=True).exists()  # nothing done yet


def test_the_admin_action_flags_on_confirmation_and_refuses_an_empty_reason(
    client, clinic, flagger
):
    fund(clinic, 500)
    charged = enquire(clinic, phone="9000000001")
    login_with_otp(client, flagger)
    data = {"action": "flag_technical_error", ACTION_CHECKBOX_NAME: [charged.pk], "apply": "1"}

    empty = client.post(changelist(), {**data, "reason": "  "})
    assert empty.status_code == 200 and "This field is required" in empty.content.decode()
    assert not Lead.objects.get(pk=charged.pk).technical_error

    done = client.post(changelist(), {**data, "reason": REASON}, follow=True)
    assert f"Lead #{charged.pk} flagged: 100 credits refunded" in done.content.decode()
    assert Lead.objects.get(pk=charged.pk).technical_error
    assert account_balance(clinic=clinic) == 500


def test_the_admin_page_shows_what_flagging_will_really_do(client, clinic, flagger):
    # A lead flagged but still charged is refunded when flagged again, and an inactive
    # clinic's refund is refused: the page and its total must say so, as the service does.
    fund(clinic, 500)
    kept = enquire(clinic, phone="9000000001")
    Lead.objects.filter(pk=kept.pk).update(technical_error=True)
    closed = ClinicFactory(name="Closed")
    fund(closed, 500)
    refused = enquire(closed, phone="9000000002")
    closed.is_active = False
    closed.save()
    login_with_otp(client, flagger)

    text = client.post(
        changelist(),
        {"action": "flag_technical_error", ACTION_CHECKBOX_NAME: [kept.pk, refused.pk]},
    ).content.decode()

    assert "refund 100 credits to the clinic" in text
    assert "inactive clinic: will be refused" in text
    assert "Credits refunded in all: 100" in text


def test_a_duplicate_of_a_waiting_lead_let_go_free_shows_its_contact(clinic, flagger):
    first = enquire(clinic, phone="9000000001")
    repeat = enquire(clinic, phone="9000000001")
    assert repeat.billing_state == Lead.Billing.DUPLICATE and repeat.contact_masked

    flag(first, flagger)

    repeat = Lead.objects.with_contact_rule().get(pk=repeat.pk)
    assert not repeat.contact_masked
    assert not Lead.objects.get(pk=repeat.pk).contact_masked
    services.update_lead_status(lead=repeat, status="contacted")


def test_staff_without_the_permission_do_not_get_the_action(client, clinic):
    auditor = StaffFactory(username="auditor")
    auditor.groups.add(Group.objects.get(name="Read-only auditors"))
    lead = enquire(clinic)
    login_with_otp(client, auditor)
    client.post(
        changelist(),
        {
            "action": "flag_technical_error",
            ACTION_CHECKBOX_NAME: [lead.pk],
            "apply": "1",
            "reason": REASON,
        },
    )
    assert not Lead.objects.get(pk=lead.pk).technical_error


def test_a_flagged_lead_refunded_by_its_flag_cannot_be_disputed(clinic, flagger):
    from disputes import services as disputes

    fund(clinic, 500)
    lead = enquire(clinic)
    flag(lead, flagger)
    with pytest.raises(AntidoteError, match="nothing to dispute"):
        disputes.open_dispute(
            lead=lead,
            user=None,
            dispute_type="technical_error",
            description="The number never existed, we tried twice.",
        )
    assert account_balance(clinic=clinic) == 500
