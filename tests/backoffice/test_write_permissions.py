"""Every admin URL that can write, POSTed by every staff group: each group writes only what it
should.

The URLs come from the URL resolver (everything under ``admin/``) and the actions from each
registered ``ModelAdmin``, so a new model, view or action is covered without anyone listing
it. What each group may write is the table below; everything else must be refused (403 for
forms and views) and leave the database exactly as it was. A refused action is proven to be a
refusal, not a bad payload, by the same POST from a superuser writing. New URLs of our own apps
that this test cannot classify fail it, with a message saying what to add.
"""

import re
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django import forms
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group
from django.db import transaction
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from disputes import services as disputes
from leads import services as leads
from leads.models import Organisation, OrganisationMember
from payments import gateway as payment_gateway
from payments.models import PaymentOrder, PromoCode, WebhookEvent
from tests.backoffice.admin_forms import form_data, page_post_data
from tests.disputes.conftest import DESCRIPTION
from tests.factories import (
    ClinicFactory,
    ClinicMemberFactory,
    PackageFactory,
    StaffFactory,
    fund,
    paid_order,
)
from tests.otp import login_with_otp

pytestmark = pytest.mark.django_db

OUR_APPS = {"antidote", "leads", "billing", "payments", "disputes"}
EVERY_GROUP = {"admin:password_change"}  # any staff member may change their own password
MAY_WRITE = {
    "Billing staff": EVERY_GROUP
    | {
        "billing.creditaccount:change",
        "billing.creditaccount:revert",
        "billing.pricingtier:add",
        "billing.pricingtier:change",
        "billing.pricingtier:revert",
        "payments.creditpackage:add",
        "payments.creditpackage:change",
        "payments.creditpackage:revert",
        "payments.promocode:add",
        "payments.promocode:change",
        "payments.promocode:revert",
        "leads.clinic:action:adjust_credits",
        "leads.clinic:action:grant_bonus",
        "payments.paymentorder:action:acknowledge_overrun",
        "billing.creditlot:action:extend_expiry",
        "payments.paymentorder:action:refund_unused_credits",
        "payments.clinictaxdetails:change",
        "payments.clinictaxdetails:revert",
    },
    "Dispute reviewers": EVERY_GROUP
    | {
        "leads.lead:action:flag_technical_error",
        "disputes.dispute:action:approve_full",
        "disputes.dispute:action:approve_partial",
        "disputes.dispute:action:reject",
        "disputes:admin-resolve",
    },
    "Read-only auditors": EVERY_GROUP,
}
ADD_PAYLOADS = {
    "billing.pricingtier": {
        "min_price_paise": "7777",
        "change_reason": "Test change",
        "credits": 150,
        "label": "New",
    },
    "payments.creditpackage": {
        "name": "Test pack",
        "price_paise": "2000",
        "change_reason": "Test change",
        "credits": 2_000,
        "bonus_credits": 0,
        "sort_order": 9,
        "is_active": "on",
    },
    "payments.promocode": {
        "code": "NEW10",
        "discount_type": "percent",
        "discount_value": 10,
        "min_amount_paise": 0,
        "bonus_credits": 0,
        "bonus_percent": 0,
        "is_active": "on",
    },
}


def action_payloads(world):
    token = str(uuid.uuid4())
    return {
        "leads.clinic:action:adjust_credits": {
            "confirm": "yes",
            "credits": 500,
            "reason": "Test",
            "token": token,
        },
        "leads.clinic:action:grant_bonus": {
            "confirm": "yes",
            "credits": 250,
            "reason": "Test",
            "token": token,
        },
        "leads.lead:action:flag_technical_error": {"apply": "1", "reason": "Broken form"},
        "disputes.dispute:action:approve_full": {"confirm": "yes"},
        "disputes.dispute:action:approve_partial": {
            "apply": "1",
            "confirm": "yes",
            f"{world['disputes.dispute'].pk}-credits": 10,
        },
        "disputes.dispute:action:reject": {"apply": "1", "notes": "No evidence of a problem."},
        "payments.paymentorder:action:acknowledge_overrun": {},
        "billing.creditlot:action:extend_expiry": {
            "stage": "apply",
            # Later than the lot's expiry, within the ten years credits may stay valid.
            "expires_at": f"{timezone.localdate() + timedelta(days=3000):%Y-%m-%d} 12:00:00",
            "reason": "Test",
        },
        "payments.paymentorder:action:refund_unused_credits": {
            "confirm": "yes",
            "reason": "Test",
            "token": token,
            f"credits_{world['payments.paymentorder'].pk}": 10,
        },
        "leads.clinicmember:action:remove_members": {},
        "leads.invitation:action:revoke_invitations": {},
    }


@dataclass
class Endpoint:
    key: str  # what MAY_WRITE names
    url: str
    data: dict = field(default_factory=dict)
    is_action: bool = False  # refused by leaving the action out, not by a 403
    refusal: int | None = None  # the status a refusal must answer, where there is one


def admin_routes():
    """(route, namespace, name) of every URL pattern under admin/, from the resolver."""

    def walk(patterns, prefix, namespace):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(
                    pattern.url_patterns,
                    prefix + str(pattern.pattern),
                    pattern.namespace or namespace,
                )
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern), namespace, pattern.name

    return [r for r in walk(get_resolver().url_patterns, "", None) if r[0].startswith("admin/")]


def snapshot():
    """Every row an admin write could touch: our apps, users and groups, the admin log."""
    models = [m for label in OUR_APPS for m in apps.get_app_config(label).get_models()]
    models += [apps.get_model("auth", "User"), Group, apps.get_model("admin", "LogEntry")]
    return {m._meta.label: list(m._base_manager.order_by("pk").values_list()) for m in models}


def auto_topup_rows(clinic):
    """A saved test-mode method, a rule and one declined automatic top-up."""
    from payments import autotopup
    from payments.models import AutoTopUp, CreditPackage

    saved = autotopup.start_mandate(
        clinic=clinic,
        user=None,
        method="card",
        email="o@example.com",
        contact="+919876543210",
        max_amount_paise=5_000_00,
    )
    autotopup.confirm_mandate(
        clinic=clinic,
        razorpay_order_id=saved.authorisation_order_id,
        razorpay_payment_id=payment_gateway.TestModeGateway.payment_id_for(
            saved.authorisation_order_id
        ),
        razorpay_signature=payment_gateway.TestModeGateway().checkout_signature(
            saved.authorisation_order_id
        ),
    )
    rule = autotopup.save_rule(
        clinic=clinic,
        user=None,
        threshold_credits=100,
        package_id=CreditPackage.objects.order_by("pk").first().pk,
        amount_rupees=None,
        monthly_max_rupees=5_000,
        monthly_max_count=2,
        top_up_early=False,
    )
    AutoTopUp.objects.create(
        clinic=clinic,
        rule=rule,
        status=AutoTopUp.Status.DECLINED,
        balance_at_trigger=50,
        threshold_at_trigger=100,
    )


@pytest.fixture
def world():
    """One row of every registered model, a pending dispute and some history."""
    chain = Organisation.objects.create(name="Glow chain")
    clinic = ClinicFactory(name="Glow", organisation=chain)
    owner = ClinicMemberFactory(clinic=clinic).user
    OrganisationMember.objects.create(user=owner, organisation=chain)
    ClinicMemberFactory(clinic=clinic)  # a second owner, so removing the first writes
    leads.invite_member(clinic=clinic, email="new@example.com", role="billing", actor=owner)
    package = PackageFactory(clinic=clinic)
    fund(clinic, 1_000)
    lead = leads.submit_enquiry(clinic=clinic, name="Asha", phone="9000000001", package=package)
    dispute = disputes.open_dispute(
        lead=lead, user=None, dispute_type="spam", description=DESCRIPTION
    )
    PromoCode.objects.create(code="SAVE5", discount_type="percent", discount_value=5)
    # Paid (so it has a tax invoice and refundable credits), with an overrun to acknowledge.
    order = paid_order(clinic=clinic, user=owner, amount=1_000)
    PaymentOrder.objects.filter(pk=order.pk).update(promo_overrun_paise=100_00)
    WebhookEvent.objects.create(event_id="evt_1", event="payment.captured", payload={})
    auto_topup_rows(clinic)
    Group.objects.create(name="Spare group")
    boss = StaffFactory(username="boss", is_superuser=True)
    objects = {}
    for model in admin.site._registry:
        obj = model._default_manager.order_by("pk").first()
        if obj is None and model._meta.app_label not in OUR_APPS | {"auth"}:
            continue  # a third-party model with no rows: its add and list pages still run
        assert obj is not None, f"the fixture must create a {model._meta.label}"
        if hasattr(model, "history") and not obj.history.exists():
            obj.save()  # rows seeded by a migration have no history yet
        objects[model._meta.label_lower] = obj
    objects["disputes.dispute"] = dispute
    return {**objects, "boss": boss}


def boss_client(world):
    client = Client()
    login_with_otp(client, world["boss"])
    return client


def model_endpoints(world, model, model_admin, boss):
    label = model._meta.label_lower
    info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    obj = world.get(label)
    names = {p.name for p in model_admin.get_urls() if p.name}
    add = reverse(f"{info}_add")
    yield Endpoint(f"{label}:add", add, ADD_PAYLOADS.get(label, {}), refusal=403)
    changelist = reverse(f"{info}_changelist")
    yield Endpoint(f"{label}:changelist", changelist)
    if obj is None:
        return
    change = reverse(f"{info}_change", args=[obj.pk])
    yield Endpoint(f"{label}:change", change, page_post_data(boss.get(change)), refusal=403)
    delete = reverse(f"{info}_delete", args=[obj.pk])
    yield Endpoint(f"{label}:delete", delete, {"post": "yes"}, refusal=403)
    yield Endpoint(f"{label}:history", reverse(f"{info}_history", args=[obj.pk]))
    if f"{info[6:]}_simple_history" in names:
        version = obj.history.order_by("history_id").first()
        revert = reverse(f"{info}_simple_history", args=[obj.pk, version.history_id])
        data = page_post_data(boss.get(revert))
        yield Endpoint(f"{label}:revert", revert, data, refusal=403)
    if f"{info[6:]}_password_change" in names:
        url = reverse(f"{info}_password_change", args=[obj.pk])
        password = {"password1": "Another long pass 42", "password2": "Another long pass 42"}
        yield Endpoint(f"{label}:password_change", url, password, refusal=403)
    if model_admin.list_editable:
        formset = boss.get(changelist).context["cl"].formset
        data = {**form_data(formset.management_form), "_save": "Save"}
        for form in formset.forms:
            data.update(form_data(form))
        first = formset.forms[0]
        for name in model_admin.list_editable:  # change one value, so a save writes
            key = first.add_prefix(name)
            if isinstance(first.fields[name], forms.IntegerField):
                data[key] = str(int(data[key] or 0) + 1)
                break
        yield Endpoint(f"{label}:list_editable", changelist, data, refusal=403)
    request = RequestFactory().get(changelist)
    request.user = world["boss"]
    payloads = action_payloads(world)
    for action in model_admin.get_actions(request):
        key = f"{label}:action:{action}"
        if action == "delete_selected":
            payload = {"post": "yes"}
        else:
            assert key in payloads or model._meta.app_label not in OUR_APPS, (
                f"new admin action {key}: give it a complete payload in action_payloads()"
            )
            payload = payloads.get(key, {})
        data = {"action": action, ACTION_CHECKBOX_NAME: [obj.pk], "index": 0, **payload}
        yield Endpoint(key, changelist, data, is_action=True)


# Our models' extra admin views that only show something (GET only).
READ_ONLY_VIEWS = {
    "billing_finance_report",
    "payments_taxdocument_html",
    "payments_taxdocument_pdf",
    "payments_taxdocument_report",
}


def label_of(model) -> str:
    return model._meta.label_lower


MODEL_URL = re.compile(r"^(?P<app>\w+?)_(?P<model>\w+)_(?P<view>[a-z_]+)$")
SITE_VIEWS = {
    "index",
    "login",
    "logout",
    "password_change",
    "password_change_done",
    "jsi18n",
    "marketplace-report",  # a read-only report (issue 17)
}


def site_endpoints(world, covered):
    """Admin URLs that are not a registered model's standard pages."""
    for route, namespace, name in admin_routes():
        full = f"{namespace}:{name}" if name else None
        if full in covered:
            continue
        if namespace == "admin" and name in SITE_VIEWS:
            data = {}
            if name == "password_change":
                data = {
                    "old_password": "correct horse battery staple",
                    "new_password1": "Another long pass 42",
                    "new_password2": "Another long pass 42",
                }
            yield Endpoint(full, reverse(full), data)
        elif full == "admin:app_list":
            for app_label in OUR_APPS - {"antidote"}:
                yield Endpoint(full, reverse(full, args=[app_label]))
        elif full == "admin:autocomplete":
            yield Endpoint(full, reverse(full))
        elif full == "admin:view_on_site":
            yield Endpoint(full, "/admin/r/1/1/")
        elif full == "disputes:admin-queue":
            yield Endpoint(full, reverse(full))
        elif full == "disputes:admin-resolve":
            url = reverse(full, args=[world["disputes.dispute"].pk])
            yield Endpoint(full, url, {"status": "approved"}, refusal=403)
        elif name is None:  # the admin's redirect to a change page, and its catch-all
            url = re.sub(r"<path:object_id>", str(world["leads.clinic"].pk), route)
            yield Endpoint(route, "/" + re.sub(r"\(\?P<url>\.\*\)\$", "no-such-page/", url))
        elif MODEL_URL.match(name or "") and namespace == "admin":
            continue  # a registered model's extra view, checked below
        else:
            pytest.fail(f"unclassified admin URL {route} ({full}): add it to site_endpoints()")


def every_endpoint(world):
    boss = boss_client(world)
    endpoints = []
    covered = set()
    for model, model_admin in admin.site._registry.items():
        info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        standard = {"add", "change", "delete", "history", "changelist", "simple_history"}
        for pattern in model_admin.get_urls():
            if not pattern.name:
                continue
            covered.add(f"admin:{pattern.name}")
            view = pattern.name[len(info) - 5 :]
            if pattern.name in READ_ONLY_VIEWS:
                # A page or a file to look at: a POST is refused and writes nothing.
                args = [world[label_of(model)].pk] if pattern.pattern.regex.groups else []
                endpoints.append(
                    Endpoint(pattern.name, reverse(f"admin:{pattern.name}", args=args))
                )
            elif view not in standard and view != "password_change":
                label = model._meta.label_lower
                assert model._meta.app_label not in OUR_APPS, (
                    f"new admin view {pattern.name} of {label}: classify it in this test"
                )
                # a third-party model's extra view: an empty POST must write nothing
                if not pattern.pattern.regex.groups:
                    endpoints.append(Endpoint(f"{label}:{view}", reverse(f"admin:{pattern.name}")))
        endpoints.extend(model_endpoints(world, model, model_admin, boss))
    endpoints.extend(site_endpoints(world, covered))
    return endpoints


def post_and_compare(client, user, endpoint):
    """POST in a savepoint that is rolled back; returns (status, database changed?)."""
    with transaction.atomic():
        login_with_otp(client, user)
        before = snapshot()
        response = client.post(endpoint.url, endpoint.data)
        changed = snapshot() != before
        transaction.set_rollback(True)
    return response.status_code, changed


@pytest.mark.parametrize("group", sorted(MAY_WRITE))
def test_each_staff_group_writes_only_what_it_should(world, group):
    user = StaffFactory(username=group.lower().replace(" ", "-"))
    user.groups.add(Group.objects.get(name=group))
    client, boss = Client(), world["boss"]
    endpoints = every_endpoint(world)
    keys = {e.key for e in endpoints}
    assert set(MAY_WRITE[group]) <= keys, "an allowed write is no longer an admin URL"
    wrong = []
    for endpoint in endpoints:
        status, changed = post_and_compare(client, user, endpoint)
        where = f"{endpoint.key} POST {endpoint.url}"
        assert status < 500, f"{where}: {status}"
        if endpoint.key in MAY_WRITE[group]:
            if not changed:
                wrong.append(f"{where}: allowed, but wrote nothing ({status})")
            continue
        if changed:
            wrong.append(f"{where}: refused group wrote to the database ({status})")
        elif endpoint.is_action and endpoint.data.get("action") != "delete_selected":
            # the refusal must be the permission, not a payload that writes nothing anyway
            if not post_and_compare(Client(), boss, endpoint)[1]:
                wrong.append(f"{where}: the payload writes nothing even for a superuser")
        elif endpoint.refusal and status != endpoint.refusal:
            wrong.append(f"{where}: answered {status}, not {endpoint.refusal}")
    assert not wrong, "\n".join(wrong)
    assert len(endpoints) > 80  # every registered model's pages, actions and the site views
