"""Every URL pattern, every method, every kind of login, generated garbage: never a 5xx.

The patterns come from the root resolver (our apps, the admin site, auth's and DRF's views
alike), so a new endpoint is fuzzed without anyone listing it. For each pattern:

1. every login with every method the view takes, the path filled with real ids, nothing else,
   noting which names the view reads (query string, form fields, serializer fields);
2. for views of ours, as the first login each method lets in: a corpus of known-hostile
   requests (queries such as next=a:b, page=², 5,000 digits; JSON lists, scalars, 5,000-deep
   nesting, signed webhooks with wrong shapes; a non-ASCII X-Razorpay-Signature), then each
   name the view read made hostile in turn while the others stay plausible;
3. Hypothesis-generated requests: path parameters from real ids or garbage that still matches
   the converter, hostile query strings, headers and form or JSON bodies (wrong types, NUL
   bytes, huge numbers, non-ASCII, over-long strings), most sent as a login the view let in.

Each request runs in a savepoint that is rolled back, with the cache and cookies reset, so one
request cannot change what the next one finds (a logout, a lockout, a deleted row). The test
client does not re-raise a view's exception: a crash is seen as the 500 a patient would get,
and its traceback is in the failure message. Hypothesis is derandomized, so CI is repeatable.
"""

import hashlib
import hmac
import json
import re
import traceback
from collections import Counter
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from http.cookies import SimpleCookie
from unittest.mock import patch
from urllib.parse import quote, urlencode

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.contrib.auth.models import Group
from django.contrib.auth.tokens import default_token_generator
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.forms.forms import BaseForm
from django.http import QueryDict
from django.test import Client, override_settings
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.regex_helper import normalize
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rest_framework import fields as drf_fields

from disputes import services as disputes
from leads import services as leads
from leads.models import Clinic, Package
from notifications import services as notifications
from payments import gateway as payment_gateway
from payments import services as payments
from payments.models import PromoCode, WebhookEvent
from tests.disputes.conftest import DESCRIPTION, PNG
from tests.factories import (
    ClinicFactory,
    ClinicMemberFactory,
    LeadFactory,
    PackageFactory,
    StaffFactory,
    fund,
    paid_order,
)
from tests.otp import login_with_otp

pytestmark = pytest.mark.django_db

# Hypothesis' requests per pattern, after the real-id requests and the seeds: more for our own
# views, a few for the admin's (Django's code, and most of the patterns). About 6,000
# requests in all, under two minutes on SQLite and on PostgreSQL on a shared 2-core machine.
GENERATED_PER_OWN_PATTERN = 20
GENERATED_PER_PATTERN = 3

# Patterns that cannot be fuzzed, with why. Kept honest by a test: each must still exist.
SKIPPED: dict[str, str] = {}

WEBHOOK_SECRET = "fuzz-webhook-secret"
LOGINS = [
    "anonymous",
    "member of clinic A",
    "member of clinic B",
    "Billing staff",
    "Dispute reviewers",
    "Read-only auditors",
    "superuser",
]
EVERY_METHOD = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

# What the summary line in tests/conftest.py reports.
STATS: Counter = Counter()
FUZZED_PATTERNS: set[str] = set()


# The URL patterns, from the resolver ----------------------------------------------------------


@dataclass(frozen=True)
class Param:
    name: str
    regex: str | None  # the converter's, when the route says; a regex group's is unknown


@dataclass(frozen=True)
class Route:
    key: str  # the resolver's own spelling, as ResolverMatch.route gives it
    name: str | None  # namespaced
    segments: tuple  # literal strings and Params, in order
    callback: object

    @property
    def params(self):
        return [s for s in self.segments if isinstance(s, Param)]

    def path(self, values: dict) -> str:
        parts = []
        for segment in self.segments:
            if isinstance(segment, Param):
                value = values[segment.name].encode("utf-8", "replace")
                parts.append(quote(value, safe=""))
            else:
                parts.append(quote(segment.encode("utf-8", "replace"), safe="/"))
        return "/" + "".join(parts)


_PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
_FORMAT_PARAM = re.compile(r"%\((\w+)\)s")


def _segments(pattern, level: int):
    """One level's pattern as literals and Params; regex groups get names unique per level."""
    if hasattr(pattern, "_route"):
        route, segments, start = pattern._route, [], 0
        for match in _PARAM.finditer(route):
            segments.append(route[start : match.start()])
            converter = pattern.converters[match["name"]]
            segments.append(Param(match["name"], converter.regex))
            start = match.end()
        segments.append(route[start:])
        return segments
    fmt, _ = normalize(pattern.regex.pattern)[0]
    segments, start = [], 0
    for match in _FORMAT_PARAM.finditer(fmt):
        segments.append(fmt[start : match.start()].replace("%%", "%"))
        name = match[1] if not match[1].startswith("_") else f"_{level}{match[1]}"
        segments.append(Param(name, None))
        start = match.end()
    segments.append(fmt[start:].replace("%%", "%"))
    return segments


def _join(parts) -> str:
    """The route as ResolverMatch.route spells it: a nested regex loses its leading ^."""
    key = ""
    for part in parts:
        key += part.removeprefix("^") if key else part
    return key


def discover_routes() -> list[Route]:
    def walk(patterns, chain, namespaces):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                spaces = [*namespaces, pattern.namespace] if pattern.namespace else namespaces
                yield from walk(pattern.url_patterns, [*chain, pattern.pattern], spaces)
            elif isinstance(pattern, URLPattern):
                levels = [*chain, pattern.pattern]
                segments = []
                for level, p in enumerate(levels):
                    segments += _segments(p, level)
                name = ":".join([*namespaces, pattern.name]) if pattern.name else None
                yield Route(
                    key=_join(str(p) for p in levels),
                    name=name,
                    segments=tuple(s for s in segments if s != ""),
                    callback=pattern.callback,
                )

    routes, seen = [], set()
    for route in walk(get_resolver().url_patterns, [], []):
        if route.key in seen:
            continue  # shadowed by an earlier pattern with the same route (password_reset)
        seen.add(route.key)
        routes.append(route)
    return routes


ROUTES = discover_routes()


def methods_for(route: Route) -> list[str]:
    """GET and POST for every view; PUT, PATCH and DELETE where its class has a handler."""
    view_class = getattr(route.callback, "view_class", None) or getattr(route.callback, "cls", None)
    extra = [m.upper() for m in ("put", "patch", "delete") if hasattr(view_class, m)]
    return ["GET", "POST", *extra]


# The world the requests find ------------------------------------------------------------------


@dataclass
class World:
    clients: dict
    cookies: dict
    values: dict  # parameter name -> real values, best first
    by_route: dict = field(default_factory=dict)  # route prefix -> {parameter: real values}
    pool: list = field(default_factory=list)  # every real value, for fields and unknown params
    plausible: dict = field(default_factory=dict)  # field name -> real values, for the seeds


def _pks(model, n=3):
    return [
        str(pk) for pk in model._default_manager.order_by("pk").values_list("pk", flat=True)[:n]
    ]


def build_world() -> World:
    clinic_a = ClinicFactory(name="Alpha Clinic")
    clinic_b = ClinicFactory(name="Beta Clinic")
    membership_a = ClinicMemberFactory(clinic=clinic_a)
    member_a = membership_a.user
    membership_b = ClinicMemberFactory(clinic=clinic_b)
    member_b = membership_b.user
    package_a = PackageFactory(clinic=clinic_a)
    PackageFactory(clinic=clinic_a, name="Laser", price_paise=9_000_00)
    package_b = PackageFactory(clinic=clinic_b)
    fund(clinic_a, 1_000)
    fund(clinic_b, 200)
    charged = leads.submit_enquiry(
        clinic=clinic_a, package=package_a, name="Asha Patel", phone="9000000001"
    )
    booked = leads.submit_enquiry(clinic=clinic_a, name="Ravi Kumar", phone="9000000002")
    leads.update_lead_status(lead=booked, status="booked", booked_for=date(2026, 5, 4))
    leads.submit_enquiry(clinic=clinic_a, name="Asha Patel", phone="9000000001")  # duplicate
    # The clinic's workflow: a note, an assignment, an archived lead and a saved filter.
    leads.add_lead_note(lead=booked, author=member_a, body="Called back, booked Monday")
    leads.assign_lead(lead=booked, member=membership_a)
    archived = leads.submit_enquiry(clinic=clinic_a, name="Old Lead", phone="9000000004")
    leads.set_lead_archived(lead=archived, archived=True)
    leads.save_inbox_default(member=membership_a, query="status=new&assigned=mine")
    held_a = LeadFactory(clinic=clinic_a)
    lead_b = leads.submit_enquiry(
        clinic=clinic_b, package=package_b, name="Meera Shah", phone="9000000003"
    )
    LeadFactory(clinic=clinic_b)
    dispute = disputes.open_dispute(
        lead=charged,
        user=member_a,
        dispute_type="spam",
        description=DESCRIPTION,
        evidence=[SimpleUploadedFile("shot.png", PNG, content_type="image/png")],
    )
    desk_a = ClinicMemberFactory(clinic=clinic_a, role="front_desk")
    invitation = leads.invite_member(
        clinic=clinic_a, email="invitee@example.com", role="front_desk", actor=member_a
    )
    PromoCode.objects.create(code="SAVE5", discount_type="percent", discount_value=5)
    quote_ = payments.quote_topup(clinic=clinic_a, amount=2_500, promo_code="SAVE5")
    pending = payments.create_order(clinic=clinic_a, user=member_a, quote=quote_)
    paid = paid_order(clinic=clinic_a, user=member_a, amount=1_000)
    gateway = payment_gateway.TestModeGateway()
    order_b = payments.create_order(
        clinic=clinic_b, user=member_b, quote=payments.quote_topup(clinic=clinic_b, amount=1_500)
    )
    WebhookEvent.objects.create(event_id="evt_fuzz", event="payment.captured", payload={})
    endpoint_a = notifications.create_webhook_endpoint(
        clinic=clinic_a, url="http://127.0.0.1:9/hook", events=["lead.delivered"]
    )
    endpoint_b = notifications.create_webhook_endpoint(
        clinic=clinic_b, url="http://127.0.0.1:9/hook", events=["lead.held"]
    )
    deliveries = [notifications.send_test_event(endpoint=e) for e in (endpoint_a, endpoint_b)]

    users = {"member of clinic A": member_a, "member of clinic B": member_b}
    for group in ("Billing staff", "Dispute reviewers", "Read-only auditors"):
        user = StaffFactory(username=group.lower().replace(" ", "-"))
        user.groups.add(Group.objects.get(name=group))
        users[group] = user
    users["superuser"] = StaffFactory(username="boss", is_superuser=True)

    clients, cookies = {"anonymous": Client(raise_request_exception=False)}, {"anonymous": ""}
    for login, user in users.items():
        client = Client(raise_request_exception=False)
        if user.is_staff:
            login_with_otp(client, user)
        else:
            client.force_login(user)
        clients[login] = client
        cookies[login] = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    for model in apps.get_models():
        if hasattr(model, "history"):
            for obj in model._default_manager.all()[:1]:
                if not obj.history.exists():
                    obj.save()  # rows seeded by a migration have no history yet

    clinic_ct = ContentType.objects.get_for_model(Clinic)
    orders = [pending, paid, order_b]
    values = {
        "lead_id": [str(lead.pk) for lead in (charged, booked, held_a, lead_b)],
        "dispute_id": [str(dispute.pk)],
        "assignee": [str(membership_a.pk), str(membership_b.pk)],
        "member_id": [str(desk_a.pk), str(member_a.clinic_memberships.get().pk)],
        "invitation_id": [str(invitation.pk)],
        "evidence_id": [str(e.pk) for e in dispute.evidence.all()],
        "slug": [clinic_a.slug, clinic_b.slug],
        "razorpay_order_id": [o.razorpay_order_id for o in orders],
        "uidb64": [urlsafe_base64_encode(force_bytes(member_a.pk))],
        "token": [default_token_generator.make_token(member_a)],
        "content_type_id": [str(clinic_ct.pk)],
        "app_label": ["leads", "billing", "payments", "disputes", "auth"],
        "url": ["leads/", "nonexistent/"],
        "endpoint_id": [str(endpoint_a.pk), str(endpoint_b.pk)],
        "message_id": [str(d.pk) for d in deliveries],
    }
    by_route = {
        "packages/": {"pk": _pks(Package)},
        "clinic/leads/": {"pk": values["lead_id"]},
        "clinic/payments/": {"pk": [str(paid.pk), str(pending.pk), str(order_b.pk)]},
        "invitations/": {"token": [leads.invitation_token(invitation)]},
        "admin/r/": {"object_id": [str(clinic_a.pk)]},
    }
    for model in apps.get_models():
        prefix = f"admin/{model._meta.app_label}/{model._meta.model_name}/"
        ids = _pks(model)
        history = _pks(model.history.model) if hasattr(model, "history") else []
        by_route[prefix] = {"object_id": ids, "pk": ids, "id": ids, "_0_0": ids, "_0_1": history}
    pool = sorted({v for vs in values.values() for v in vs} | {str(clinic_a.pk), "SAVE5"})
    plausible = {
        "lead_id": [str(booked.pk)],
        "lead_ids": [str(booked.pk)],
        "assignee": [str(membership_a.pk)],
        "body": ["Called back"],
        "assigned": ["mine"],
        "archived": ["yes"],
        "clinic": [str(clinic_a.pk)],
        "clinic_id": [str(clinic_a.pk)],
        "package": [str(package_a.pk)],
        "razorpay_order_id": [pending.razorpay_order_id],
        "razorpay_payment_id": [gateway.payment_id_for(pending.razorpay_order_id)],
        "razorpay_signature": [gateway.checkout_signature(pending.razorpay_order_id)],
        "order": [paid.razorpay_order_id],
        "role": ["billing"],
    }
    return World(
        clients=clients,
        cookies=cookies,
        values=values,
        by_route=by_route,
        pool=pool,
        plausible=plausible,
    )


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Built once for the module, in a transaction rolled back at its end."""
    with (
        django_db_blocker.unblock(),
        override_settings(RAZORPAY_WEBHOOK_SECRET=WEBHOOK_SECRET),
        transaction.atomic(),
    ):
        cache.clear()
        yield build_world()
        transaction.set_rollback(True)


def real_values(world: World, route: Route, param: Param) -> list[str]:
    for prefix, params in sorted(world.by_route.items(), key=lambda kv: -len(kv[0])):
        if route.key.startswith(prefix) and params.get(param.name):
            return params[param.name]
    return world.values.get(param.name) or world.pool


# Garbage --------------------------------------------------------------------------------------

HUGE_NUMBER = "9" * 5000  # more digits than int() takes from a string
HOSTILE = [
    "",
    " ",
    "0",
    "-1",
    "1.5",
    "1e3",
    "x",
    "²",
    "٣",
    "Ⅻ",
    HUGE_NUMBER,
    "9" * 20,
    "9223372036854775808",
    "2147483648",
    "a:b",
    "javascript:alert(1)",
    "//evil.example",
    "\x00",
    "1\x00",
    "é",
    "𝟙",
    "\u202e",
    "\ufeff1",
    "x" * 5000,
    "<script>",
    "' OR 1=1 --",
    "%",
    "null",
    "[]",
    "NaN",
    "2026-02-30",
    "approved",
    "booked",
    "held",
    "json",
    "csv",
]
# The names our forms, serializers and views read, first, so garbage reaches their fields; then
# every model field name, for the admin's forms.
PARAM_NAMES = [
    *("lead_id", "status", "next", "clinic_id", "clinic", "package", "amount", "promo_code"),
    *("razorpay_order_id", "razorpay_payment_id", "razorpay_signature", "name", "phone"),
    *("email", "message", "consent", "website", "dispute_type", "description", "evidence"),
    *("refund_amount", "admin_notes", "q", "billing_state", "date_from", "date_to", "kind"),
    *("page", "limit", "format", "order", "dismissed", "username", "password", "otp_token"),
    *("otp_device", "new_password1", "new_password2", "old_password", "action", "post"),
    *("_selected_action", "select_across", "index", "stage", "credits", "reason", "token"),
    *("apply", "notes", "o", "p", "e", "_changelist_filters", "_popup", "_to_field"),
    *("term", "app_label", "model_name", "field_name", "all", "event", "payload"),
    *("body", "lead_ids", "assignee", "assigned", "archived", "clear"),
    *("role", "password1", "password2"),
    *("events", "lead_delivered__email__on", "lead_delivered__sms__to"),
]
FIELD_NAMES = sorted(
    {
        f.name
        for label in ("leads", "billing", "payments", "disputes", "notifications")
        for model in apps.get_app_config(label).get_models()
        for f in model._meta.get_fields()
    }
)
RAW_QUERIES = [
    "next=a:b",
    "page=%C2%B2",
    f"page={HUGE_NUMBER}",
    f"limit={HUGE_NUMBER}",
    "format=json&page=%C2%B2",
    "format=json&limit=%C2%B2",
    f"format=json&page={HUGE_NUMBER}",
    "format=csv&kind=%00",
    "%ff%fe=%00",
    "q=%00",
    "q=%C2%B2",
    "o=999",
    "o=-1.x",
    "p=-1",
    "e=1",
    "_to_field=password",
    "_popup=1",
    "all=",
    "order=%00",
    "date_from=9999-99-99",
    "app_label=auth&model_name=user&field_name=password&term=a",
]


def _text():
    return st.one_of(
        st.sampled_from(HOSTILE), st.text(max_size=20), st.integers().map(str)
    ) | st.builds(str, st.integers(min_value=-(10**30), max_value=10**30))


def _field_names():
    return st.sampled_from(PARAM_NAMES) | st.sampled_from(FIELD_NAMES) | st.text(max_size=8)


def _queries(pool):
    values = _text() | st.sampled_from(pool)
    pairs = st.lists(st.tuples(st.sampled_from(PARAM_NAMES), values), min_size=1, max_size=6)
    built = pairs.map(lambda ps: urlencode([(k, v.encode("utf-8", "replace")) for k, v in ps]))
    return st.sampled_from(["", *RAW_QUERIES]) | built


def _header_value():
    # A server hands headers over as latin-1 text, so non-ASCII arrives as its UTF-8 bytes.
    return _text().map(lambda v: v.encode("utf-8", "replace").decode("latin-1"))


HEADER_NAMES = [
    "X-Razorpay-Signature",
    "X-Razorpay-Event-Id",
    "Accept",
    "Accept-Language",
    "HX-Request",
    "HX-Target",
    "HX-Current-URL",
    "X-Forwarded-For",
    "User-Agent",
    "Referer",
]


def _headers():
    known = st.fixed_dictionaries(
        {},
        optional={
            "Accept": st.sampled_from(["application/json", "text/csv", "*/*"]),
            "HX-Request": st.just("true"),
        },
    )
    garbage = st.dictionaries(st.sampled_from(HEADER_NAMES), _header_value(), max_size=3)
    return st.builds(lambda a, b: {**a, **b}, known, garbage)


@dataclass(frozen=True)
class Body:
    content_type: str
    data: bytes = b""
    signed: bool = False  # with a valid X-Razorpay-Signature over the bytes

    def __repr__(self):
        data = self.data if len(self.data) <= 200 else self.data[:200] + b"..."
        return f"Body({self.content_type!r}, {data!r}, signed={self.signed})"


# Empty, but form data: DRF then reads its fields from a QueryDict, as Django's views do.
NO_BODY = Body("application/x-www-form-urlencoded")
DEEP = 5000
RAW_BODIES = [
    Body("application/json", b"[" * DEEP + b"]" * DEEP),
    Body("application/json", b'{"a":' * DEEP + b"1" + b"}" * DEEP),
    Body("application/json", b'{"package": ' + HUGE_NUMBER.encode() + b"}"),
    Body("application/json", b'{"amount": ' + HUGE_NUMBER.encode() + b', "clinic": 1}'),
    Body("application/json", b'{"amount": 1e999, "clinic": 1}'),
    Body("application/json", b'{"promo_code": {"a": 1}, "amount": 500}'),
    Body("application/json", b'{"event": "payment.captured", "payload": {"payment": []}}', True),
    Body("application/json", b'{"event": {"a": 1}, "payload": {}}', True),
    Body("application/json", b'{"event": "payment.captured", "payload": []}', True),
    Body("application/json", b'{"event": "x", "payload": {}}' + b" " * 100, True),
    Body("application/json", b"\xff\xfe{}"),
    Body("application/json", b"{"),
    Body("application/json", b"NaN"),
    Body("application/json", b'"\\u0000"'),
    Body("application/x-www-form-urlencoded", b"%ff%fe=%00&lead_id=%C2%B2"),
    Body("application/x-www-form-urlencoded; charset=no-such-charset", b"a=b"),
    Body("multipart/form-data", b"--x\r\n"),
    Body("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data\r\n\r\n"),
    Body("text/plain", HUGE_NUMBER.encode()),
]


def _json(pool):
    leaves = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(10**40), max_value=10**40)
        | st.floats()
        | _text()
        | st.sampled_from(pool)
    )
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(_field_names(), inner, max_size=4)
        ),
        max_leaves=12,
    )


def _form_body(pool):
    values = _text() | st.sampled_from(pool)
    fields = st.dictionaries(
        _field_names(), values | st.lists(values, min_size=1, max_size=3), max_size=6
    )

    def encode(data, multipart, upload):
        if multipart:
            if upload is not None:
                data = {**data, "evidence": SimpleUploadedFile("x.png", upload, "image/png")}
            return Body(MULTIPART_CONTENT, encode_multipart(BOUNDARY, data))
        flat = [(k, v) for k, vs in data.items() for v in (vs if isinstance(vs, list) else [vs])]
        encoded = urlencode([(k, v.encode("utf-8", "replace")) for k, v in flat])
        return Body("application/x-www-form-urlencoded", encoded.encode())

    uploads = st.none() | st.sampled_from([PNG, b"<html><script>", b"%PDF-1.4 /JS", b""])
    return st.builds(encode, fields, st.booleans(), uploads)


def _bodies(pool):
    as_json = st.builds(
        lambda value, signed: Body("application/json", json.dumps(value).encode(), signed),
        _json(pool),
        st.booleans(),
    )
    return st.one_of(st.just(NO_BODY), _form_body(pool), as_json, st.sampled_from(RAW_BODIES))


def _path_value(real, param: Param):
    real_ids = st.sampled_from(real)
    if param.regex is None:
        return real_ids | st.sampled_from(HOSTILE[1:]) | st.text(min_size=1, max_size=20)
    fits = [v for v in HOSTILE if re.fullmatch(param.regex, v)]
    garbage = st.from_regex(param.regex, fullmatch=True).filter(bool)
    return real_ids | garbage | (st.sampled_from(fits) if fits else st.nothing())


# Sending --------------------------------------------------------------------------------------


def send(world, *, login, method, path, query, headers, body):
    client = world.clients[login]
    headers = dict(headers)
    if body.signed:
        mac = hmac.new(WEBHOOK_SECRET.encode(), body.data, hashlib.sha256).hexdigest()
        headers["X-Razorpay-Signature"] = mac
        headers.setdefault("X-Razorpay-Event-Id", f"evt_{mac[:12]}")
    with transaction.atomic():
        response = client.generic(
            method,
            path,
            data=body.data,
            content_type=body.content_type,
            headers=headers,
            QUERY_STRING=query,
        )
        if response.streaming:
            b"".join(response.streaming_content)  # a CSV fails while it streams, not before
        # No response.close() of our own: the client has closed it (a streamed one once read)
        # with request_finished kept from closing the connection, which on PostgreSQL would
        # end the transaction the world lives in.
        transaction.set_rollback(True)
    # What one request leaves behind must not change what the next one finds.
    cache.clear()
    client.cookies = SimpleCookie()
    if world.cookies[login]:
        client.cookies[django_settings.SESSION_COOKIE_NAME] = world.cookies[login]
    STATS["requests"] += 1
    return response


def _failure(response, login, method, path, query, headers, body) -> str:
    crash = "".join(traceback.format_exception(*response.exc_info)) if response.exc_info else ""
    return (
        f"{response.status_code} for {login}: {method} {path[:200]}?{query[:200]}\n"
        f"headers={headers!r:.300}\nbody={body!r}\n{crash}"
    )


# The tests ------------------------------------------------------------------------------------


def test_every_skipped_pattern_still_exists():
    assert set(SKIPPED) <= {route.key for route in ROUTES}


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.key)
def test_real_ids_reach_the_pattern_they_are_for(world, route):
    """The explicit examples below are about this pattern, not another that shadows it."""
    path = route.path({p.name: real_values(world, route, p)[0] for p in route.params})
    try:
        match = resolve(path)
    except Resolver404:
        pytest.fail(f"{path} does not resolve; give {route.key} real values in build_world()")
    assert match.route == route.key, f"{path} reaches {match.route}, not {route.key}"


def _reached_the_view(response) -> bool:
    """Past the login, permission, tenant and method checks: worth fuzzing further."""
    if response.status_code in (401, 403, 404, 405):
        return False
    return "login" not in response.get("Location", "")


OUR_APPS = {"antidote", "leads", "billing", "payments", "disputes"}


def is_ours(route: Route) -> bool:
    """A view whose code is ours (the admin's model pages are Django's, configured by us)."""
    return route.callback.__module__.partition(".")[0] in OUR_APPS


def _flood(atom: str, as_json: bool) -> Body:
    """Every name a view of ours reads, all set to one hostile value."""
    if as_json:
        return Body("application/json", json.dumps(dict.fromkeys(PARAM_NAMES, atom)).encode())
    data = urlencode([(name, atom.encode()) for name in PARAM_NAMES])
    return Body("application/x-www-form-urlencoded", data.encode())


# One hostile header each, the other well-formed, so the first does not hide the second. A
# server hands headers over as latin-1 text: non-ASCII arrives as its UTF-8 bytes.
NON_ASCII_SIGNATURE = {
    "X-Razorpay-Signature": ("é" * 32).encode().decode("latin-1"),
    "X-Razorpay-Event-Id": "evt_fuzz_signature",
}
NON_ASCII_EVENT_ID = {
    "X-Razorpay-Signature": "0" * 64,
    "X-Razorpay-Event-Id": "évt".encode().decode("latin-1"),
}
# Known-hostile requests, sent to every view of ours as the first login it lets in with each
# method, before Hypothesis generates its own: (query, headers, body). A GET's view reads its
# query string, so it gets those; a POST's reads its body, so it gets the bodies.
QUERY_SEEDS = [
    *((query, {}, NO_BODY) for query in RAW_QUERIES),
    ("format=json", {"Accept": "application/json", "HX-Request": "true"}, NO_BODY),
]
BODY_SEEDS = [
    *((query, {}, NO_BODY) for query in RAW_QUERIES[:3]),
    *(("", {}, body) for body in RAW_BODIES),
    *(
        ("", {}, _flood(atom, as_json))
        for as_json in (False, True)
        for atom in ("²", HUGE_NUMBER, "\x00", "x" * 5000, "a:b", "1.5", "-1")
    ),
    *(("", {}, Body("application/json", json.dumps(v).encode())) for v in ([], 1, "x", None)),
    ("", NON_ASCII_SIGNATURE, Body("application/json", b"{}")),
    ("", NON_ASCII_EVENT_ID, Body("application/json", b"{}")),
    # A signed event whose id is longer than the column that stores it.
    (
        "",
        {"X-Razorpay-Event-Id": "evt_" + "e" * 300},
        Body("application/json", b'{"event": "x"}', True),
    ),
]


def seeds_for(method: str):
    return QUERY_SEEDS if method in ("GET", "HEAD", "OPTIONS") else BODY_SEEDS


# One field hostile at a time, the others plausible: what gets a request past the first check
# to the code that parses the field under test (a refund amount only once status=approved).
# A form with many fields gets the first few atoms only, to keep the run short.
ONE_FIELD_ATOMS = ["²", HUGE_NUMBER, "\x00", "x" * 5000, "", "1.5", "-1", "a:b"]
ONE_FIELD_BUDGET = 64  # requests per form and variant
PLAUSIBLE = {
    "status": ["approved", "booked"],
    "amount": ["2000"],
    "promo_code": ["SAVE5"],
    "dispute_type": ["spam"],
    "description": [DESCRIPTION],
    "name": ["Asha Patel"],
    "phone": ["9000000009"],
    "email": ["asha@example.com"],
    "consent": ["on"],
    "website": [""],
    "refund_amount": ["10"],
    "credits": ["10"],
    "date_from": ["2026-01-01"],
    "date_to": ["2026-12-31"],
    "page": ["1"],
    "limit": ["2"],
    "format": ["json"],
    "kind": ["purchase"],
    "q": ["Asha"],
    "next": ["/clinic/leads"],
}


# Where a name is read: request.GET / request.POST, a Django form's field, a DRF field.
_READS = [
    (QueryDict, "get", lambda self, key, *a, **k: key),
    (QueryDict, "__getitem__", lambda self, key, *a, **k: key),
    (QueryDict, "getlist", lambda self, key, *a, **k: key),
    (BaseForm, "_widget_data_value", lambda self, widget, html_name: html_name),
    (drf_fields.Field, "get_value", lambda self, dictionary: self.field_name),
]


@contextmanager
def keys_read(into: set):
    """Record the names a view reads from its query string, form data or JSON body."""

    def spy(original, name_of):
        def read(self, *args, **kwargs):
            into.add(name_of(self, *args, **kwargs))
            return original(self, *args, **kwargs)

        return read

    with ExitStack() as stack:
        for cls, method, name_of in _READS:
            stack.enter_context(patch.object(cls, method, spy(getattr(cls, method), name_of)))
        yield


def one_field_seeds(world, route: Route, method: str, names: set):
    """(query, body) pairs: the names the view read, plausible but for one hostile value."""
    names = sorted(n for n in names if isinstance(n, str))
    if not names:
        return
    plausible = {**world.plausible, **PLAUSIBLE}
    variants = max(len(plausible.get(n, [""])) for n in names)
    drf = hasattr(getattr(route.callback, "cls", None), "parser_classes")
    atoms = ONE_FIELD_ATOMS[: max(2, ONE_FIELD_BUDGET // len(names))]
    for variant in range(variants):
        base = {n: plausible.get(n, ["1"])[variant % len(plausible.get(n, ["1"]))] for n in names}
        for name in names:
            for atom in atoms:
                data = {**base, name: atom}
                encoded = urlencode([(k, v.encode()) for k, v in data.items()])
                if method in ("GET", "HEAD", "DELETE"):
                    yield encoded, NO_BODY
                    continue
                yield "", Body("application/x-www-form-urlencoded", encoded.encode())
                if drf:
                    yield "", Body("application/json", json.dumps(data).encode())


def generated_per_pattern(route: Route) -> int:
    return GENERATED_PER_OWN_PATTERN if is_ours(route) else GENERATED_PER_PATTERN


@pytest.mark.parametrize("route", [r for r in ROUTES if r.key not in SKIPPED], ids=lambda r: r.key)
def test_no_request_gets_a_5xx(world, route):
    FUZZED_PATTERNS.add(route.key)
    params = route.params
    real = {p.name: real_values(world, route, p) for p in params}
    first = {name: options[0] for name, options in real.items()}
    path = route.path(first)

    def check(login, method, path, query="", headers=None, body=NO_BODY):
        headers = headers or {}
        response = send(
            world, login=login, method=method, path=path, query=query, headers=headers, body=body
        )
        assert response.status_code < 500, _failure(
            response, login, method, path, query, headers, body
        )
        return response

    # Every login with every method the view takes, with real ids and nothing else; noting
    # which names each method's view reads.
    reached, names = [], {}
    for login in LOGINS:
        for method in methods_for(route):
            with keys_read(names.setdefault(method, set())):
                response = check(login, method, path)
            if _reached_the_view(response):
                reached.append((login, method))

    # Our own views: the seeds, then each name the view read made hostile in turn, as the
    # first login that got in with each method.
    if is_ours(route):
        for method in dict.fromkeys(m for _, m in reached):
            login = next(who for who, m in reached if m == method)
            for query, headers, body in seeds_for(method):
                check(login, method, path, query, headers, body)
            for query, body in one_field_seeds(world, route, method, names[method]):
                check(login, method, path, query, {}, body)

    # Then Hypothesis' garbage, most of it sent as someone the view lets in.
    everyone = [(login, method) for login in LOGINS for method in EVERY_METHOD]

    @settings(
        max_examples=generated_per_pattern(route),
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(
        who=st.sampled_from(reached * 16 + everyone),
        values=st.fixed_dictionaries({p.name: _path_value(real[p.name], p) for p in params}),
        query=_queries(world.pool),
        headers=_headers(),
        body=_bodies(world.pool),
    )
    def fuzz(who, values, query, headers, body):
        check(*who, route.path(values), query, headers, body)

    fuzz()
