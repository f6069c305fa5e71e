#!/usr/bin/env python
"""A load test with a real server: gunicorn, PostgreSQL, Redis, Celery and the fake Razorpay.

    .venv/bin/python bench/load.py [--seconds 60] [--users 24] [--max-requests 40000]

Everything runs on loopback and is the bench's own, so other work on the machine is not
touched: a PostgreSQL cluster ``15/load`` on port 5433 (created on first use with
``pg_createcluster``; needs root or the postgres user), a database ``antidote_load`` made
afresh (migrated, demo data, the bench's fixtures), a ``redis-server`` on port 6380 (db 13:
cache, throttles, broker), the fake Razorpay of the tests (``tests/payments/fake_razorpay.py``)
with two bench routes (pay an order, change its mode), gunicorn with 4 sync workers in live
payment mode with ``DEBUG`` off, one Celery worker and beat.

Then locust (``bench/locustfile.py``, headless) runs three phases with the same number of
users: the realistic mix (patients' enquiries, clinics' pages and API, top-ups through the
fake gateway with webhooks, staff deciding disputes) for ``--seconds``, then enquiries alone
and then the one-query reference view alone for a third of that each, so the enquiry's
throughput is compared with "Django on this machine" under the same setup. Prints
requests/s, p50/p95/p99 and errors per endpoint.

After the run the script checks, and exits 1 if any check fails: every enquiry locust saw
accepted is one lead (by its unique phone number), every order it saw paid is paid and
credited once, charged leads equal charge entries, purchase entries equal paid orders,
every dispute staff decided is decided, no outbox row is left due and unsent after a sweep,
and ``reconcile_ledger`` and ``reconcile_payments`` exit 0.

Not a test: it measures. ``bench/faults.py`` uses the same stack.
"""

import argparse
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.payments.fake_razorpay import FakeRazorpay  # noqa: E402

PYTHON = str(ROOT / ".venv" / "bin" / "python")
BIN = ROOT / ".venv" / "bin"
PG_VERSION, PG_CLUSTER, PG_PORT = "15", "load", 5433
REDIS_PORT, REDIS_DB = 6380, 13
DATABASE = "antidote_load"
MIXED = ["Patient", "ClinicBrowser", "ApiClient", "TopUp", "Staff"]
KEY_ID, KEY_SECRET, WEBHOOK_SECRET = "rzp_test_load", "load-key-secret", "load-webhook-secret"


def stop_cleanly() -> None:
    """SIGTERM or SIGINT (ignored in a background job otherwise) end the run through its
    ``finally``, so the stack's processes are stopped, not orphaned."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(1))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {seconds:.0f} s")


class BenchRazorpay(FakeRazorpay):
    """The tests' fake Razorpay, plus what the customer and the fault script do there:
    ``POST /bench/pay/<order id>`` pays an order (a captured payment), ``POST
    /bench/mode/<mode>`` switches to "ok", "5xx", "slow" (past the client's timeout) or
    "html"."""

    def handle(self, request, method):
        path = request.path
        if method == "POST" and path.startswith("/bench/pay/"):
            order_id = path.removeprefix("/bench/pay/")
            if order_id not in self.orders:
                return self.error(request, 404, "BAD_REQUEST_ERROR", "no such order")
            payment = self.pay(order_id)
            return self.answer(request, 200, json.dumps(payment).encode(), "application/json")
        if method == "POST" and path.startswith("/bench/mode/"):
            self.mode = path.removeprefix("/bench/mode/")
            return self.answer(request, 200, b"{}", "application/json")
        return super().handle(request, method)


class Stack:
    """The processes of one run; ``stop()`` ends only what this object started."""

    def __init__(self, workdir: Path, *, workers: int = 4):
        self.workdir = workdir
        self.workers = workers
        self.port = free_port()
        self.processes: dict[str, subprocess.Popen] = {}
        self.razorpay = BenchRazorpay()
        self.razorpay.slow_seconds = 3.0  # RAZORPAY_TIMEOUT_SECONDS is 2
        self.env = {
            **os.environ,
            "DEBUG": "false",
            "SECRET_KEY": "bench-load-" + "k" * 50,
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            "SESSION_COOKIE_SECURE": "false",
            "CSRF_COOKIE_SECURE": "false",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:{PG_PORT}/{DATABASE}",
            "CONN_MAX_AGE": "60",
            "CACHE_URL": f"rediscache://127.0.0.1:{REDIS_PORT}/{REDIS_DB}",
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{REDIS_PORT}/{REDIS_DB}",
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "PAYMENT_MODE": "live",
            "RAZORPAY_KEY_ID": KEY_ID,
            "RAZORPAY_KEY_SECRET": KEY_SECRET,
            "RAZORPAY_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "RAZORPAY_TIMEOUT_SECONDS": "2",
            "GST_SUPPLIER_LEGAL_NAME": "LOAD TEST SUPPLIER",
            "GST_SUPPLIER_GSTIN": "29AAACA1234A1ZG",
            "GST_SUPPLIER_STATE_CODE": "29",
            "GST_SUPPLIER_ADDRESS": "1 Bench Road, Bengaluru 560001",
            # Patients arrive from many addresses through one proxy (X-Forwarded-For).
            "TRUSTED_PROXY_COUNT": "1",
            "API_THROTTLE_PER_KEY": "100000/min",
            "API_THROTTLE_PER_USER": "100000/min",
            "DISPUTE_AUTO_APPROVE": "false",  # staff decide them
            "BENCH_REFERENCE_VIEW": "true",
            "LOG_LEVEL": "WARNING",
            "PRIVATE_MEDIA_ROOT": str(workdir / "private-media"),
        }
        self.env["DJANGO_SETTINGS_MODULE"] = "antidote.settings"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self, name: str):
        return open(self.workdir / f"{name}.log", "ab")

    # PostgreSQL and Redis of the bench's own ---------------------------------------------

    def start_postgres(self) -> None:
        clusters = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True).stdout
        if not any(line.split()[:2] == [PG_VERSION, PG_CLUSTER] for line in clusters.splitlines()):
            subprocess.run(
                [
                    "pg_createcluster",
                    PG_VERSION,
                    PG_CLUSTER,
                    "-p",
                    str(PG_PORT),
                    "--",
                    "--auth=trust",
                ],
                check=True,
                capture_output=True,
            )
        subprocess.run(["pg_ctlcluster", PG_VERSION, PG_CLUSTER, "start"], capture_output=True)
        wait_for_port(PG_PORT)
        psql = ["psql", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres", "-q", "-c"]
        subprocess.run([*psql, f"DROP DATABASE IF EXISTS {DATABASE}"], check=True)
        subprocess.run([*psql, f"CREATE DATABASE {DATABASE}"], check=True)

    def restart_postgres(self) -> None:
        subprocess.run(["pg_ctlcluster", PG_VERSION, PG_CLUSTER, "restart"], check=True)

    def start_redis(self) -> None:
        self.processes["redis"] = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(REDIS_PORT),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=self.log("redis"),
            stderr=subprocess.STDOUT,
        )
        wait_for_port(REDIS_PORT)

    def stop_redis(self) -> None:
        self.end("redis")

    # The application ------------------------------------------------------------------------

    def manage(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=ROOT,
            env=self.env | env,
            capture_output=True,
            text=True,
        )
        if check and done.returncode:
            raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stderr[-2000:]}")
        return done

    def prepare(self) -> dict:
        self.manage("migrate", "--noinput")
        if not (ROOT / "staticfiles" / "staticfiles.json").exists():
            # Minutes on a busy machine (whitenoise compresses every file): once per checkout.
            self.manage("collectstatic", "--noinput")
        self.manage("load_demo_data", DEBUG="true", PAYMENT_MODE="test")  # it refuses otherwise
        done = subprocess.run(
            [PYTHON, __file__, "--fixtures"], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        if done.returncode:
            raise SystemExit(f"the fixtures failed:\n{done.stderr[-3000:]}")
        fixtures = json.loads(done.stdout.splitlines()[-1])
        (self.workdir / "fixtures.json").write_text(json.dumps(fixtures))
        return fixtures

    def start_razorpay(self) -> None:
        self.razorpay.start()
        self.env["RAZORPAY_API_BASE"] = self.razorpay.url

    def start_gunicorn(self) -> None:
        self.processes["gunicorn"] = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "antidote.wsgi",
                "--workers",
                str(self.workers),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--graceful-timeout",
                "5",
                "--preload",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log("gunicorn"),
            stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port)

    def gunicorn_workers(self) -> list[int]:
        master = self.processes["gunicorn"].pid
        found = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True)
        return [int(pid) for pid in found.stdout.split()]

    def start_celery(self) -> None:
        self.processes["celery"] = subprocess.Popen(
            [
                str(BIN / "celery"),
                "-A",
                "antidote",
                "worker",
                "--pool",
                "solo",
                "--loglevel",
                "WARNING",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log("celery"),
            stderr=subprocess.STDOUT,
        )

    def start_beat(self) -> None:
        self.processes["beat"] = subprocess.Popen(
            [
                str(BIN / "celery"),
                "-A",
                "antidote",
                "beat",
                "--loglevel",
                "WARNING",
                "--schedule",
                str(self.workdir / "beat-schedule"),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log("beat"),
            stderr=subprocess.STDOUT,
        )

    def start(self) -> dict:
        self.start_postgres()
        self.start_redis()
        self.start_razorpay()
        fixtures = self.prepare()
        self.start_gunicorn()
        self.start_celery()
        self.start_beat()
        # The first request of a worker imports and compiles: seconds on a busy machine.
        self.locust("warmup", seconds=20, users=8, classes=MIXED, limit=100_000, phones="90")
        return fixtures

    def end(self, name: str, sig=signal.SIGTERM) -> None:
        process = self.processes.pop(name, None)
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def stop(self) -> None:
        for name in ("beat", "celery", "gunicorn", "redis"):
            self.end(name)
        self.razorpay.stop()
        subprocess.run(["pg_ctlcluster", PG_VERSION, PG_CLUSTER, "stop"], capture_output=True)

    # Load ------------------------------------------------------------------------------------

    def locust(
        self, name: str, *, seconds: int, users: int, classes: list[str], limit: int, phones="91"
    ):
        """One headless locust run; returns its per-endpoint rows. ``phones``: the first two
        digits of its patients' numbers, different for each run of one database."""
        prefix = self.workdir / name
        env = {
            **os.environ,
            "BENCH_PHONE_PREFIX": phones,
            "BENCH_FIXTURES": str(self.workdir / "fixtures.json"),
            "BENCH_RECORD": str(self.workdir / f"{name}-record.json"),
            "BENCH_REQUEST_LOG": str(self.workdir / f"{name}-requests.csv"),
            "BENCH_MAX_REQUESTS": str(limit),
            "BENCH_RAZORPAY": self.razorpay.url,
            "BENCH_KEY_SECRET": KEY_SECRET,
            "BENCH_WEBHOOK_SECRET": WEBHOOK_SECRET,
        }
        subprocess.run(
            [
                str(BIN / "locust"),
                "-f",
                str(ROOT / "bench" / "locustfile.py"),
                "--headless",
                "--host",
                self.url,
                "--users",
                str(users),
                "--spawn-rate",
                str(users),
                "--run-time",
                f"{seconds}s",
                "--stop-timeout",
                "5",
                "--csv",
                str(prefix),
                "--only-summary",
                "--loglevel",
                "WARNING",
                *classes,
            ],
            cwd=ROOT,
            env=env,
            check=False,
            stdout=self.log(f"locust-{name}"),
            stderr=subprocess.STDOUT,
        )
        with open(f"{prefix}_stats.csv", newline="") as file:
            return list(csv.DictReader(file))

    def checks(self, records: list[Path]) -> list[tuple[str, bool, str]]:
        out = subprocess.run(
            [PYTHON, __file__, "--checks", *map(str, records)],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
        )
        if out.returncode:
            print(out.stderr[-3000:], file=sys.stderr)
            return [("the checks ran", False, "crashed; see above")]
        results = [tuple(row) for row in json.loads(out.stdout.splitlines()[-1])]
        for command in ("reconcile_ledger", "reconcile_payments"):
            done = self.manage(command, check=False)
            last = (done.stdout.strip() or done.stderr.strip()).splitlines()[-1:] or [""]
            results.append((f"{command} exits 0", done.returncode == 0, last[0][:100]))
        return results


# Run inside the app's environment (child processes) -------------------------------------------


def make_fixtures() -> dict:
    """What locust needs, made through the services: funded clinics, an API key, pending
    disputes for staff, the staff authenticator's key."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from antidote.api_keys import create_api_key
    from antidote.management.commands.staff_totp import enrol
    from billing import services as billing
    from disputes import services as disputes
    from leads import services as leads
    from leads.models import ClinicMember, Package
    from payments import services as payments

    users = {}
    for username in ("glow", "bright", "radiance", "lotus"):
        member = (
            ClinicMember.objects.filter(user__username=username)
            .select_related("clinic")
            .order_by("clinic__name")
            .first()
        )
        users[username] = {"clinic": member.clinic_id, "password": "demo-pass-2026"}
        if not payments.billing_state_of(clinic=member.clinic):  # GST needs it to top up
            payments.save_billing_state(clinic=member.clinic, state_code="27")
        if username != "lotus":  # Lotus stays unfunded: its leads wait for a top-up
            billing.grant_credits(
                clinic=member.clinic,
                credits=5_000_000,
                idempotency_key=f"bench-load:fund:{member.clinic_id}",
            )
    glow = ClinicMember.objects.filter(user__username="glow").order_by("clinic__name").first()
    key = create_api_key(clinic=glow.clinic, name="load test", scope="read", actor=glow.user)
    packages = list(
        Package.objects.filter(is_active=True, clinic__is_active=True).values_list("pk", flat=True)
    )
    bright = ClinicMember.objects.filter(user__username="bright").first()
    disputable = []
    for i in range(120):
        lead = leads.submit_enquiry(
            clinic=bright.clinic,
            package=None,
            name="Load Dispute",
            phone=f"7{i:09d}",
            email="",
            message="",
        )
        disputable.append(lead)
    dispute_ids = [
        disputes.open_dispute(
            lead=lead,
            user=bright.user,
            dispute_type="other",
            description="The number did not belong to anyone who asked.",
        ).pk
        for lead in disputable
    ]
    staff = get_user_model().objects.get(username="staff")
    device = enrol(staff)[0]
    return {
        "users": users,
        "packages": packages,
        "api_key": key.token,
        "disputes": dispute_ids,
        "staff": {"username": "staff", "password": "staff-pass-2026", "key": device.key},
    }


def run_checks(record_files: list[str]) -> list[tuple[str, bool, str]]:
    import django

    django.setup()
    from django.db.models import Count, Sum
    from django.utils import timezone

    from billing.models import CreditTransaction, Kind
    from disputes.models import Dispute
    from leads.models import Lead
    from notifications import services as outbox
    from notifications.models import OutboxMessage
    from payments.models import PaymentOrder

    accepted, paid, decided = [], [], []
    for name in record_files:
        record = json.loads(Path(name).read_text())
        accepted += record["accepted_phones"]
        paid += record["paid_orders"]
        decided += record["decided_disputes"]
    results = []

    phones = [f"+91{phone}" for phone in accepted]
    counts = dict(
        Lead.objects.filter(phone__in=phones)
        .values("phone")
        .annotate(n=Count("pk"))
        .values_list("phone", "n")
    )
    missing = sum(1 for phone in phones if phone not in counts)
    doubled = sum(1 for n in counts.values() if n > 1)
    results.append(
        (
            "every accepted enquiry is one lead",
            missing == 0 and doubled == 0 and len(set(phones)) == len(phones),
            f"{len(phones)} accepted, {missing} missing, {doubled} doubled",
        )
    )

    orders = dict(
        PaymentOrder.objects.filter(razorpay_order_id__in=paid).values_list(
            "razorpay_order_id", "pk"
        )
    )
    purchases = dict(
        CreditTransaction.objects.filter(
            idempotency_key__in=[f"purchase:order:{pk}" for pk in orders.values()]
        )
        .values("idempotency_key")
        .annotate(n=Count("pk"))
        .values_list("idempotency_key", "n")
    )
    unpaid = PaymentOrder.objects.filter(razorpay_order_id__in=paid).exclude(status="paid").count()
    uncredited = sum(1 for pk in orders.values() if purchases.get(f"purchase:order:{pk}") != 1)
    results.append(
        (
            "every order seen paid is paid and credited once",
            len(orders) == len(set(paid)) and unpaid == 0 and uncredited == 0,
            f"{len(set(paid))} paid, {unpaid} not paid, {uncredited} not credited once",
        )
    )

    charged = Lead.objects.filter(charged_at__isnull=False).count()
    charges = CreditTransaction.objects.filter(kind=Kind.LEAD_CHARGE).count()
    detail = f"{charged} leads, {charges} entries"
    results.append(("charged leads = charge entries", charged == charges, detail))

    settled = PaymentOrder.objects.filter(status="paid")
    # Purchases through an order (the fixtures' and the demo's grants have none).
    purchase_entries = CreditTransaction.objects.filter(
        kind=Kind.PURCHASE, idempotency_key__startswith="purchase:order:"
    )
    ordered = settled.aggregate(c=Sum("credits"))["c"] or 0
    credited = purchase_entries.aggregate(c=Sum("credits"))["c"] or 0
    results.append(
        (
            "credits purchased = settled orders",
            settled.count() == purchase_entries.count() and ordered == credited,
            f"{settled.count()} orders / {purchase_entries.count()} entries, "
            f"{ordered} / {credited} credits",
        )
    )

    open_left = Dispute.objects.filter(pk__in=decided, status="pending").count()
    results.append(
        (
            "every dispute staff decided is decided",
            open_left == 0,
            f"{len(decided)} decided, {open_left} still pending",
        )
    )

    # Beat sweeps every minute; do it now, give the one worker two minutes to drain what the
    # load left, and count what is still due and unsent (a message lost between commit and
    # queue, or with a killed worker).
    outbox.sweep_outbox(older_than=timezone.timedelta(seconds=0))
    started = time.monotonic()
    deadline = started + 120
    while True:
        due = OutboxMessage.objects.filter(
            status=OutboxMessage.Status.PENDING, next_attempt_at__lte=timezone.now()
        ).count()
        if due == 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    drained = f"{due} due and unsent {time.monotonic() - started:.0f} s after a sweep"
    results.append(("no orphaned outbox rows", due == 0, drained))
    return results


# Reporting -------------------------------------------------------------------------------------


def table(rows: list[dict]) -> str:
    lines = [
        "| endpoint | requests | req/s | p50 ms | p95 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| `{row['Name']}` | {int(row['Request Count']):,} | "
            f"{float(row['Requests/s']):.1f} | {row['50%']} | {row['95%']} | {row['99%']} | "
            f"{int(row['Failure Count']):,} |"
        )
    return "\n".join(lines)


def find(rows: list[dict], name: str) -> dict:
    return next(row for row in rows if row["Name"] == name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="the mixed phase")
    parser.add_argument("--users", type=int, default=24)
    parser.add_argument("--max-requests", type=int, default=40_000, help="per phase")
    parser.add_argument("--keep", action="store_true", help="keep the run's folder")
    parser.add_argument("--serve", type=int, metavar="SECONDS", help="only start the stack")
    parser.add_argument("--fixtures", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--checks", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fixtures:
        print(json.dumps(make_fixtures()))
        return 0
    if args.checks is not None:
        print(json.dumps(run_checks(args.checks)))
        return 0

    stop_cleanly()
    workdir = Path(tempfile.mkdtemp(prefix="antidote-load-"))
    stack = Stack(workdir)
    try:
        print(f"starting the stack (logs in {workdir}) …", flush=True)
        stack.start()
        if args.serve:
            print(f"serving on {stack.url} for {args.serve} s", flush=True)
            time.sleep(args.serve)
            return 0
        print(f"gunicorn on {stack.url}; mixed load {args.seconds} s, {args.users} users …")
        mixed = stack.locust(
            "mixed", seconds=args.seconds, users=args.users, classes=MIXED, limit=args.max_requests
        )
        short = max(args.seconds // 3, 10)
        enquiries = stack.locust(
            "enquiries",
            seconds=short,
            users=args.users,
            classes=["EnquiryOnly"],
            limit=args.max_requests,
            phones="92",
        )
        reference = stack.locust(
            "reference",
            seconds=short,
            users=args.users,
            classes=["ReferenceOnly"],
            limit=args.max_requests,
        )
        print("\n## Mixed load\n")
        print(table(mixed))
        print(f"\n## Enquiries alone against the reference ({short} s each, same users)\n")
        enquiry = find(enquiries, "POST /contact-clinic")
        ref = find(reference, "GET /bench/reference")
        print(table([enquiry, ref]))
        ratio = float(enquiry["Requests/s"]) / float(ref["Requests/s"])
        target = ratio >= 0.5 and float(enquiry["95%"]) < 300
        print(
            f"\nenquiry ÷ reference throughput: {ratio:.2f}×, enquiry p95 {enquiry['95%']} ms "
            f"(target ≥ 0.5× at p95 < 300 ms): {'met' if target else 'NOT met'}"
        )
        print("\n## Checks after the run\n")
        records = [workdir / f"{name}-record.json" for name in ("warmup", "mixed", "enquiries")]
        results = stack.checks(records)
        for name, ok, detail in results:
            print(f"- {'OK  ' if ok else 'FAIL'} {name}: {detail}")
        return 0 if all(ok for _, ok, _ in results) else 1
    finally:
        stack.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
