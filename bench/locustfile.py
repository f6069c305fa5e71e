"""The load of bench/load.py and bench/faults.py: who does what on the site (loopback only).

Started by those scripts, which pass the fixtures and where to record through the
environment. The mixed phase runs ``Patient``, ``ClinicBrowser``, ``ApiClient``, ``TopUp``
and one ``Staff``; ``EnquiryOnly`` and ``ReferenceOnly`` measure the enquiry against the
one-query reference view with no think time.

Every run records what it was told succeeded (accepted enquiries by phone number, orders
seen paid, disputes decided) for the checks after the run, and, with
``BENCH_REQUEST_LOG``, one line per request with what the user saw: a page, a refusal, the
friendly 503, a friendly 500, a traceback, a bare error or no answer at all.
"""

import csv
import hashlib
import hmac
import itertools
import json
import os
import random
import struct
import time
from pathlib import Path

import gevent
import requests
from locust import HttpUser, between, constant, events, task

FIXTURES = json.loads(Path(os.environ["BENCH_FIXTURES"]).read_text())
RECORD = {"accepted_phones": [], "paid_orders": [], "decided_disputes": []}
PHONE_PREFIX = os.environ.get("BENCH_PHONE_PREFIX", "91")  # 10 digits: prefix + 8
PHONES = itertools.count()
MAX_REQUESTS = int(os.environ.get("BENCH_MAX_REQUESTS", "40000"))
RAZORPAY = os.environ.get("BENCH_RAZORPAY", "")
KEY_SECRET = os.environ.get("BENCH_KEY_SECRET", "").encode()
WEBHOOK_SECRET = os.environ.get("BENCH_WEBHOOK_SECRET", "").encode()
# Each run of one database (warm-up 90, mixed 91, enquiries 92, faults 93) decides its own.
DISPUTES = list(FIXTURES["disputes"][int(PHONE_PREFIX[1]) % 4 :: 4])
_requests = itertools.count(1)
_log = None
_environment = None


def seen(status: int, body: bytes) -> str:
    """What a person (or a program) saw, in the words of the fault table."""
    if status == 0:
        return "no answer"
    if status < 400:
        return "ok"
    if b"Traceback" in body:
        return "traceback"
    if status == 503 and (
        b"Back in a moment" in body or b'"unavailable"' in body or b'"success": false' in body
    ):
        return "friendly 503"
    if status == 500 and b"Something went wrong" in body:
        return "friendly 500"
    if status < 500:
        return f"refusal {status}"
    return f"bare {status}"


@events.init.add_listener
def _open_log(environment, **kwargs):
    global _log, _environment
    _environment = environment
    if os.environ.get("BENCH_REQUEST_LOG"):
        _log = csv.writer(open(os.environ["BENCH_REQUEST_LOG"], "w", newline=""))  # noqa: SIM115
        _log.writerow(["t", "name", "status", "ms", "seen"])


@events.request.add_listener
def _on_request(name, response_time, response, exception, context, **kwargs):
    status = getattr(response, "status_code", 0) or 0
    if _log is not None:
        body = getattr(response, "content", b"") or b""
        _log.writerow([f"{time.time():.3f}", name, status, int(response_time), seen(status, body)])
    if next(_requests) == MAX_REQUESTS:  # bounded in requests as well as in time
        gevent.spawn(_environment.runner.quit)


@events.quitting.add_listener
def _write_record(environment, **kwargs):
    if os.environ.get("BENCH_RECORD"):
        Path(os.environ["BENCH_RECORD"]).write_text(json.dumps(RECORD))


def next_phone() -> str:
    return f"{PHONE_PREFIX}{next(PHONES):08d}"


def some_address() -> str:
    """Each enquiry is another patient: another address (behind the one trusted proxy)."""
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def sign(secret: bytes, message: str) -> str:
    return hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()


def totp(key_hex: str) -> str:
    """RFC 6238, as the staff's authenticator app computes it (30 s, 6 digits, SHA-1)."""
    mac = hmac.new(
        bytes.fromhex(key_hex), struct.pack(">Q", int(time.time()) // 30), hashlib.sha1
    ).digest()
    offset = mac[-1] & 15
    return f"{(struct.unpack('>I', mac[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


class SiteUser(HttpUser):
    abstract = True

    def csrf(self) -> str:
        return self.client.cookies.get("csrftoken", "")

    def log_in(self, username: str, password: str, path="/accounts/login/", **extra) -> bool:
        self.client.get(path, name=f"GET {path}")
        response = self.client.post(
            path,
            {"username": username, "password": password, "csrfmiddlewaretoken": self.csrf()}
            | extra,
            name=f"POST {path}",
            allow_redirects=False,
        )
        return response.status_code == 302

    def enquire(self, package: int) -> None:
        phone = next_phone()
        with self.client.post(
            "/contact-clinic",
            {
                "name": "Load Patient",
                "phone": phone,
                "email": "",
                "message": "Is Saturday possible?",
                "consent": "on",
                "website": "",
                "package": package,
                "csrfmiddlewaretoken": self.csrf(),
            },
            headers={"X-Forwarded-For": some_address()},
            allow_redirects=False,
            name="POST /contact-clinic",
            catch_response=True,
        ) as response:
            if response.status_code == 302 and "/enquiry-sent" in response.headers["Location"]:
                RECORD["accepted_phones"].append(phone)
                response.success()
            else:
                response.failure(f"{response.status_code}")


class Patient(SiteUser):
    """Finds a package, reads its page, sends an enquiry."""

    weight = 6
    wait_time = between(0.5, 2)

    @task
    def enquiry(self):
        package = random.choice(FIXTURES["packages"])
        self.client.get(f"/packages/{package}/", name="GET /packages/<id>/")
        self.enquire(package)


class ClinicBrowser(SiteUser):
    """A clinic's owner going through the portal."""

    weight = 3
    wait_time = between(1, 3)

    def on_start(self):
        username = random.choice(["glow", "bright", "radiance", "lotus"])
        self.log_in(username, FIXTURES["users"][username]["password"])

    @task(3)
    def dashboard(self):
        self.client.get("/clinic/dashboard", name="GET /clinic/dashboard")

    @task(3)
    def inbox(self):
        self.client.get("/clinic/leads", name="GET /clinic/leads")

    @task(2)
    def history(self):
        self.client.get("/clinic/credits/history", name="GET /clinic/credits/history")

    @task(1)
    def billing(self):
        self.client.get("/clinic/billing-dashboard", name="GET /clinic/billing-dashboard")


class ApiClient(HttpUser):
    """A clinic's own system reading the REST API with its key."""

    weight = 1
    wait_time = between(0.5, 1.5)

    def on_start(self):
        self.client.headers["Authorization"] = f"Bearer {FIXTURES['api_key']}"

    @task(2)
    def balance(self):
        self.client.get("/api/v1/balance/", name="GET /api/v1/balance/")

    @task(2)
    def leads(self):
        self.client.get("/api/v1/leads/", name="GET /api/v1/leads/")

    @task(1)
    def ledger(self):
        self.client.get("/api/v1/ledger-entries/", name="GET /api/v1/ledger-entries/")


class TopUp(SiteUser):
    """An owner buys credits: our order, Razorpay's checkout (the fake), then the browser's
    verification and Razorpay's webhook, in either order, both reporting the same payment."""

    weight = 1
    wait_time = between(2, 5)

    def on_start(self):
        self.username = random.choice(["glow", "bright", "radiance", "lotus"])
        self.clinic = FIXTURES["users"][self.username]["clinic"]
        self.log_in(self.username, FIXTURES["users"][self.username]["password"])

    @task
    def top_up(self):
        self.client.get("/clinic/credits/topup", name="GET /clinic/credits/topup")
        headers = {"X-CSRFToken": self.csrf()}
        with self.client.post(
            "/create-razorpay-order",
            json={"clinic": self.clinic, "amount": random.randrange(1000, 5001)},
            headers=headers,
            name="POST /create-razorpay-order",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}")
                return
            order_id = response.json()["order_id"]
        try:
            payment = requests.post(f"{RAZORPAY}/bench/pay/{order_id}", timeout=5).json()
        except (requests.RequestException, ValueError):
            return  # the checkout never completed: the order stays unpaid
        steps = [lambda: self.verify(order_id, payment, headers), lambda: self.webhook(payment)]
        random.shuffle(steps)
        if any([step() for step in steps]):
            RECORD["paid_orders"].append(order_id)

    def verify(self, order_id, payment, headers) -> bool:
        response = self.client.post(
            "/verify-payment",
            json={
                "clinic": self.clinic,
                "razorpay_order_id": order_id,
                "razorpay_payment_id": payment["id"],
                "razorpay_signature": sign(KEY_SECRET, f"{order_id}|{payment['id']}"),
            },
            headers=headers,
            name="POST /verify-payment",
        )
        return response.status_code == 200 and response.json().get("success") is True

    def webhook(self, payment) -> bool:
        body = json.dumps(
            {"event": "payment.captured", "payload": {"payment": {"entity": payment}}}
        )
        response = self.client.post(
            "/webhooks/razorpay",
            data=body.encode(),
            headers={
                "Content-Type": "application/json",
                "X-Razorpay-Signature": sign(WEBHOOK_SECRET, body),
                "X-Razorpay-Event-Id": f"evt_{random.getrandbits(64):016x}",
            },
            name="POST /webhooks/razorpay",
        )
        return response.status_code == 200 and str(response.json().get("result")).endswith("paid")


class Staff(SiteUser):
    """One staff member in the back office deciding disputes from the queue."""

    fixed_count = 1
    wait_time = between(1, 3)

    def on_start(self):
        staff = FIXTURES["staff"]
        # A code is accepted once (django-otp refuses a replay), and the phases log in again:
        # a login in the same 30 s step as the last one failed, and every decision with it.
        gevent.sleep(30 - time.time() % 30 + 0.5)
        self.log_in(
            staff["username"],
            staff["password"],
            path="/admin/login/",
            otp_token=totp(staff["key"]),
            next="/admin/",
        )

    @task(1)
    def queue(self):
        self.client.get("/admin/disputes", name="GET /admin/disputes (queue)")

    @task(2)
    def decide(self):
        if not DISPUTES:
            return
        dispute = DISPUTES.pop()
        with self.client.post(
            f"/admin/disputes/{dispute}/resolve",
            {
                "status": random.choice(["approved", "rejected"]),
                "admin_notes": "Checked under load.",
                "csrfmiddlewaretoken": self.csrf(),
            },
            allow_redirects=False,
            name="POST /admin/disputes/<id>/resolve",
            catch_response=True,
        ) as response:
            if response.status_code == 302 and "/login/" not in response.headers["Location"]:
                RECORD["decided_disputes"].append(dispute)
                response.success()
            else:
                response.failure(f"{response.status_code}")


class EnquiryOnly(SiteUser):
    """Enquiries with no think time: the enquiry's throughput against the reference's."""

    wait_time = constant(0)

    def on_start(self):
        self.client.get(f"/packages/{FIXTURES['packages'][0]}/", name="GET /packages/<id>/")

    @task
    def enquiry(self):
        self.enquire(random.choice(FIXTURES["packages"]))


class ReferenceOnly(HttpUser):
    """The one-query view with no think time: "Django on this machine"."""

    wait_time = constant(0)

    @task
    def reference(self):
        self.client.get("/bench/reference", name="GET /bench/reference")
