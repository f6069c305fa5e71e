"""The back office: staff groups, clinic credit actions, change history, the dashboard."""

import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group

from billing import services as billing
from billing.models import CreditAccount, CreditTransaction, Kind, PricingTier
from billing.selectors import account_balance
from disputes import services as disputes
from leads import services as leads
from leads.models import Clinic
from payments.models import PromoCode
from tests.backoffice.admin_forms import page_post_data
from tests.disputes.conftest import DESCRIPTION
from tests.factories import ClinicFactory, ClinicMemberFactory, StaffFactory, fund
from tests.otp import login_with_otp

pytestmark = pytest.mark.django_db

CLINICS = "/admin/leads/clinic/"


def staff_in(group, client):
    user = StaffFactory(username=group.lower().replace(" ", "-"))
    user.groups.add(Group.objects.get(name=group))
    login_with_otp(client, user)
    return user


def act(client, action, clinics, **data):
    return client.post(
        CLINICS,
        {"action": action, ACTION_CHECKBOX_NAME: [c.pk for c in clinics], **data},
        follow=True,
    )


def token_of(response):
    return re.search(r'name="token" value="([0-9a-f-]+)"', response.text).group(1)


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


# Groups ---------------------------------------------------------------------------------------


def test_billing_staff_adjust_credits_and_manage_promos_but_decide_no_disputes(client, clinic):
    staff_in("Billing staff", client)
    fund(clinic, 1_000)
    lead = leads.submit_enquiry(clinic=clinic, name="A", phone="9000000001")
    dispute = disputes.open_dispute(
        lead=lead, user=None, dispute_type="spam", description=DESCRIPTION
    )
    assert "adjust_credits" in client.get(CLINICS).text
    assert (
        client.post(
            "/admin/payments/promocode/add/",
            {
                "code": "new10",
                "discount_type": "percent",
                "discount_value": 10,
                "min_amount_paise": 0,
                "bonus_credits": 0,
                "bonus_percent": 0,
            },
        ).status_code
        == 302
    )
    assert PromoCode.objects.filter(code="NEW10").exists()
    assert client.get("/admin/payments/paymentorder/").status_code == 200
    assert client.get("/admin/disputes/dispute/").status_code == 403
    assert (
        client.post(f"/admin/disputes/{dispute.pk}/resolve", {"status": "approved"}).status_code
        == 403
    )
    assert (
        client.post(
            f"/admin/billing/credittransaction/{CreditTransaction.objects.first().pk}/delete/",
            {"post": "yes"},
        ).status_code
        == 403
    )


def test_dispute_reviewers_decide_disputes_but_touch_no_money_settings(client, clinic):
    staff_in("Dispute reviewers", client)
    fund(clinic, 1_000)
    lead = leads.submit_enquiry(clinic=clinic, name="A", phone="9000000001")
    dispute = disputes.open_dispute(
        lead=lead, user=None, dispute_type="spam", description=DESCRIPTION
    )
    assert (
        client.post(f"/admin/disputes/{dispute.pk}/resolve", {"status": "approved"}).status_code
        == 302
    )
    assert account_balance(clinic=clinic) == 1_000
    assert "adjust_credits" not in client.get(CLINICS).text
    act(client, "adjust_credits", [clinic], confirm="yes", credits=500, reason="x", token="0" * 32)
    assert account_balance(clinic=clinic) == 1_000
    assert client.get("/admin/payments/promocode/add/").status_code == 403
    assert client.get("/admin/billing/pricingtier/").status_code == 403


def test_read_only_auditors_see_everything_and_change_nothing(client, clinic):
    staff_in("Read-only auditors", client)
    for url in [
        CLINICS,
        "/admin/billing/credittransaction/",
        "/admin/billing/pricingtier/",
        "/admin/payments/paymentorder/",
        "/admin/payments/promocode/",
        "/admin/disputes/dispute/",
        "/admin/leads/lead/",
        "/admin/payments/webhookevent/",
    ]:
        assert client.get(url).status_code == 200, url
    tier = PricingTier.objects.first()
    response = client.post(
        f"/admin/billing/pricingtier/{tier.pk}/change/",
        {"min_price_paise": 0, "credits": 1, "change_reason": "Test change"},
    )
    assert response.status_code == 403
    assert PricingTier.objects.get(pk=tier.pk).credits == tier.credits
    page = client.get(CLINICS).text
    assert "adjust_credits" not in page and "grant_bonus" not in page


# Clinic credit actions --------------------------------------------------------------------------


def test_adjust_credits_shows_before_and_after_then_posts_once_per_clinic(client, boss):
    glow, lotus = ClinicFactory(name="Glow"), ClinicFactory(name="Lotus")
    fund(glow, 1_000)
    form = act(client, "adjust_credits", [glow, lotus])
    assert "Signed: 500 adds credits" in form.text
    token = token_of(form)

    def step(**stage):
        data = {"credits": -300, "reason": "Goodwill reversal", "token": token}
        return act(client, "adjust_credits", [glow, lotus], **stage, **data)

    preview = step(stage="preview")
    # Glow: one entry, -300, balance 1,000 -> 700; Lotus would pass its floor, so no total.
    assert re.search(
        r"<td>Glow</td><td>1</td><td>-300</td><td>1,000</td><td>700</td>", preview.text
    )
    assert "below its floor of 0: will be refused" in preview.text  # Lotus has nothing
    assert "In all: -300 credits</strong> across 1 clinic;" in preview.text
    assert account_balance(clinic=glow) == 1_000  # the preview moved nothing
    done = step(confirm="yes")
    texts = messages_of(done)
    assert "Glow: -300 credits, balance now 700." in texts
    assert any(t.startswith("Lotus: refused.") for t in texts)
    again = step(confirm="yes")  # the same form sent twice
    assert any("already done" in t for t in messages_of(again))
    assert account_balance(clinic=glow) == 700
    entry = CreditTransaction.objects.get(kind=Kind.ADMIN_ADJUSTMENT)
    assert (entry.actor, entry.memo) == (boss, "Goodwill reversal")


@pytest.mark.parametrize(
    ("credits", "reason", "error"),
    [(0, "x", "zero changes nothing"), (5, "", "This field is required")],
)
def test_adjust_credits_refuses_bad_input_on_the_form(client, boss, clinic, credits, reason, error):
    response = act(
        client,
        "adjust_credits",
        [clinic],
        stage="preview",
        credits=credits,
        reason=reason,
        token="6f1e8a4c-1111-4a5b-9c3d-123456789abc",
    )
    assert error in response.text
    assert not CreditTransaction.objects.exists()


def test_bulk_bonus_grants_one_entry_per_clinic_and_is_idempotent(client, boss):
    clinics = [ClinicFactory() for _ in range(3)]
    inactive = ClinicFactory(is_active=False)
    token = token_of(act(client, "grant_bonus", [*clinics, inactive]))
    for _ in range(2):  # the form sent twice
        done = act(
            client,
            "grant_bonus",
            [*clinics, inactive],
            confirm="yes",
            credits=250,
            reason="Diwali bonus",
            token=token,
        )
    assert [account_balance(clinic=c) for c in clinics] == [250, 250, 250]
    assert account_balance(clinic=inactive) == 0
    assert CreditTransaction.objects.filter(kind=Kind.BONUS).count() == 3
    assert any("refused" in t and "inactive" in t for t in messages_of(done))


def test_a_bonus_to_a_clinic_in_debt_is_previewed_as_the_credit_it_is(client, boss, clinic):
    # Only debits are refused below the floor; the preview said a bonus would be refused
    # and left it out of the total, then the confirmation posted it.
    fund(clinic, 100)
    billing.reverse_credits(clinic=clinic, credits=500, idempotency_key="reversal:test:1")
    token = token_of(act(client, "grant_bonus", [clinic]))
    data = {"credits": 100, "reason": "Goodwill", "token": token}

    preview = act(client, "grant_bonus", [clinic], stage="preview", **data)

    assert "will be refused" not in preview.text
    assert "In all: +100 credits" in preview.text
    act(client, "grant_bonus", [clinic], confirm="yes", **data)
    assert account_balance(clinic=clinic) == -300


def test_clinic_change_page_shows_money_and_recent_ledger(client, boss, clinic):
    fund(clinic, 1_000)
    leads.submit_enquiry(clinic=clinic, name="A", phone="9000000001")
    page = client.get(f"{CLINICS}{clinic.pk}/change/").text
    assert "Recent ledger" in page
    assert "Lead charge" in page and "+1,000" in page
    listing = client.get(CLINICS).text
    assert "900" in listing


# History and dashboard ------------------------------------------------------------------------


def test_tier_promo_package_and_account_changes_are_kept_in_history(client, boss, clinic):
    tier = PricingTier.objects.get(min_price_paise=5_000_00)
    response = client.post(
        f"/admin/billing/pricingtier/{tier.pk}/change/",
        {
            "min_price_paise": "5000",
            "change_reason": "Test change",
            "credits": 200,
            "label": "Standard",
        },
    )
    assert response.status_code == 302
    history = client.get(f"/admin/billing/pricingtier/{tier.pk}/history/").text
    assert "boss" in history
    latest = tier.history.first()  # tiers seeded by migration start their history here
    assert (latest.credits, latest.history_user, latest.history_type) == (200, boss, "~")
    account = CreditAccount.objects.get(clinic=clinic)
    client.post(
        f"/admin/billing/creditaccount/{account.pk}/change/",
        {"overdraft_limit": 100, "low_balance_threshold": 300, "change_reason": "Test change"},
    )
    assert [h.overdraft_limit for h in account.history.all()] == [100, 0]
    assert client.get("/admin/payments/creditpackage/1/history/").status_code == 200


@pytest.mark.parametrize("where", ["account", "clinic"])
def test_an_overdraft_limit_below_the_debt_already_used_is_refused_with_a_message(
    client, boss, clinic, where
):
    account = CreditAccount.objects.get(clinic=clinic)
    billing.update_account_settings(account=account, overdraft_limit=200)
    leads.submit_enquiry(clinic=clinic, name="P", phone="9000000001")  # 100 of the 200 used
    if where == "account":
        url = f"/admin/billing/creditaccount/{account.pk}/change/"
        data = {"overdraft_limit": 50, "low_balance_threshold": 0, "change_reason": "Test change"}
    else:
        url = f"/admin/leads/clinic/{clinic.pk}/change/"
        page = client.get(url)
        data = {
            **page_post_data(page),
            "credit_account-0-overdraft_limit": 50,
            "credit_account-0-change_reason": "Test",
        }
    response = client.post(url, data, follow=True)
    assert response.status_code == 200
    assert "the overdraft limit cannot be below 100 until the clinic tops up" in response.text
    account.refresh_from_db()
    assert (account.balance, account.overdraft_limit) == (-100, 200)


def test_a_clinic_in_debt_can_still_be_edited_and_a_limit_covering_the_debt_ends_it(
    client, boss, clinic
):
    # A refund at Razorpay took the balance to -400 with no overdraft: debt. Renaming the
    # clinic was refused (its unchanged limit "below the debt"), and a limit covering the
    # debt broke the floor constraint with a 500.
    fund(clinic, 100)
    billing.reverse_credits(clinic=clinic, credits=500, idempotency_key="reversal:test:1")
    url = f"/admin/leads/clinic/{clinic.pk}/change/"
    data = page_post_data(client.get(url))

    renamed = client.post(url, {**data, "name": "Renamed"}, follow=True)
    assert renamed.status_code == 200 and "cannot be below" not in renamed.text
    assert Clinic.objects.get(pk=clinic.pk).name == "Renamed"

    covered = client.post(
        url,
        {
            **data,
            "name": "Renamed",
            "credit_account-0-overdraft_limit": 400,
            "credit_account-0-change_reason": "Test",
        },
        follow=True,
    )
    assert covered.status_code == 200
    account = CreditAccount.objects.get(clinic=clinic)
    assert (account.balance, account.overdraft_limit, account.in_debt) == (-400, 400, False)


def test_a_limit_still_short_of_the_debt_keeps_the_clinic_in_debt(clinic):
    fund(clinic, 100)
    billing.reverse_credits(clinic=clinic, credits=500, idempotency_key="reversal:test:1")
    account = CreditAccount.objects.get(clinic=clinic)
    billing.update_account_settings(account=account, overdraft_limit=100, low_balance_threshold=7)
    account.refresh_from_db()
    assert (account.overdraft_limit, account.low_balance_threshold, account.in_debt) == (
        100,
        7,
        True,
    )


def test_admin_index_shows_the_dashboard_figures(client, boss):
    rich, poor = ClinicFactory(), ClinicFactory()
    fund(rich, 1_000)
    leads.submit_enquiry(clinic=rich, name="A", phone="9000000001")
    leads.submit_enquiry(clinic=poor, name="B", phone="9000000002")  # held
    lead = leads.submit_enquiry(clinic=rich, name="C", phone="9000000003")
    disputes.open_dispute(lead=lead, user=None, dispute_type="spam", description=DESCRIPTION)
    billing.record_reconciliation(name="ledger", ok=True, summary="2 accounts, 3 entries")
    page = client.get("/admin/").text
    assert re.search(r'data-figure="sold">1,000<', page)
    assert re.search(r'data-figure="spent">200<', page)
    assert re.search(r'data-figure="disputes">1 \(oldest 0 days\)<', page)
    assert re.search(r'data-figure="held">1<', page)
    assert re.search(r'data-figure="low">1<', page)  # poor: 0 < 500; rich: 800
    assert re.search(r'data-figure="debt">0<', page)
    assert re.search(r'data-figure="overruns">0<', page)
    assert "ledger: <strong" in page and "OK" in page
    billing.reverse_credits(clinic=rich, credits=2_000, idempotency_key="test:chargeback")
    assert re.search(r'data-figure="debt">1<', client.get("/admin/").text)


def test_staff_see_a_leads_assignment_and_archive_but_cannot_change_them(client, boss, clinic):
    member = ClinicMemberFactory(clinic=clinic)
    fund(clinic, 1_000)
    lead = leads.submit_enquiry(clinic=clinic, name="Asha", phone="9000000001")
    leads.assign_lead(lead=lead, member=member)
    page = client.get(f"/admin/leads/lead/{lead.pk}/change/").text
    assert 'name="assigned_to"' not in page and 'name="archived"' not in page
    assert str(member.user) in page
