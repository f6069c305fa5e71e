"""Enquiry latency with a mail server that takes 5 seconds to answer.

    .venv/bin/python bench/enquiry_latency.py [--enquiries 20] [--smtp-delay 5] [--root DIR]

Starts a local SMTP server that waits ``--smtp-delay`` seconds before its greeting (then
accepts every message), and times ``POST /contact-clinic`` (a funded clinic: the lead is
charged and its "new enquiry" email is due) through Django's test client on a fresh SQLite
database, in these configurations, each in its own process (plus the usual figure: in-request with a
mail server that answers at once):

- ``in-request``: ``CELERY_TASK_ALWAYS_EAGER=true``, the send runs inside the request after
  commit, as every enquiry did before the outbox (and as the demo still does);
- ``queued``: tasks go to Redis (``BENCH_BROKER_URL``, default redis://127.0.0.1:6379/14); the
  request writes the outbox row and queues a task, and a worker would send it.

``--root`` runs the same measurement against another checkout (e.g. an export of an older
commit) in the in-request configuration only. Prints median, p95 and max per configuration.
Not a test: it measures.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/14")


class SlowSMTPServer:
    """Greets after ``delay`` seconds, then speaks just enough SMTP to accept a message."""

    def __init__(self, delay: float):
        self.delay = delay
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.received = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn):
        with conn, conn.makefile("rb") as lines:
            time.sleep(self.delay)
            conn.sendall(b"220 slow.example ESMTP\r\n")
            in_data = False
            for raw in lines:
                line = raw.rstrip(b"\r\n")
                if in_data:
                    if line == b".":
                        in_data = False
                        self.received += 1
                        conn.sendall(b"250 queued\r\n")
                    continue
                verb = line[:4].upper()
                if verb == b"DATA":
                    in_data = True
                    conn.sendall(b"354 go ahead\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 ok\r\n")


def measure(enquiries: int) -> list[float]:
    """Runs in the child: a fresh database, one funded clinic, N timed enquiries."""
    sys.path.insert(0, str(Path(os.environ["BENCH_ROOT"])))
    import django

    django.setup()
    from django.core.cache import cache
    from django.core.management import call_command
    from django.test import Client

    from billing import services as billing
    from leads.models import Clinic

    call_command("migrate", verbosity=0)
    clinic = Clinic.objects.create(
        name="Bench Clinic", slug="bench-clinic", contact_email="bench@example.com"
    )
    billing.grant_credits(clinic=clinic, credits=1_000_000, idempotency_key="bench:fund")
    client = Client()
    timings = []
    for i in range(enquiries + 1):
        cache.clear()  # the rate limits are not what is measured
        started = time.perf_counter()
        response = client.post(
            "/contact-clinic",
            {
                "name": "Asha Patel",
                "phone": f"98{i:08d}",
                "consent": "on",
                "website": "",
                "clinic": clinic.pk,
            },
        )
        elapsed = time.perf_counter() - started
        assert response.status_code == 302, response.status_code
        if i:  # the first request warms caches and connections
            timings.append(elapsed)
    return timings


def run(label: str, *, root: Path, eager: bool, smtp_port: int, enquiries: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "BENCH_ROOT": str(root),
            "DJANGO_SETTINGS_MODULE": "antidote.settings",
            "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
            "DEBUG": "true",
            "PAYMENT_MODE": "test",
            "ALLOWED_HOSTS": "testserver",
            "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
            "EMAIL_TIMEOUT": "30",
            "CELERY_TASK_ALWAYS_EAGER": "true" if eager else "false",
            "CELERY_BROKER_URL": "" if eager else BROKER,
            "LOG_LEVEL": "ERROR",
        }
        child = subprocess.run(
            [sys.executable, __file__, "--child", "--enquiries", str(enquiries)],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    if child.returncode:
        sys.exit(f"{label} failed:\n{child.stderr[-3000:]}")
    timings = json.loads(child.stdout.strip().splitlines()[-1])
    timings.sort()
    return {
        "label": label,
        "n": len(timings),
        "median_ms": statistics.median(timings) * 1000,
        "p95_ms": timings[max(0, int(len(timings) * 0.95) - 1)] * 1000,
        "max_ms": timings[-1] * 1000,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--enquiries", type=int, default=20)
    parser.add_argument("--smtp-delay", type=float, default=5.0)
    parser.add_argument("--root", type=Path, default=None, help="another checkout to measure")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.enquiries)))
        return
    server = SlowSMTPServer(args.smtp_delay)
    instant = SlowSMTPServer(0)
    # The usual figure: the same request when the mail server answers at once.
    results = [
        run(
            "in-request, instant SMTP (usual)",
            root=ROOT,
            eager=True,
            smtp_port=instant.port,
            enquiries=args.enquiries,
        )
    ]
    if args.root:
        results.append(
            run(
                f"{args.root.name}, in-request",
                root=args.root.resolve(),
                eager=True,
                smtp_port=server.port,
                enquiries=args.enquiries,
            )
        )
    for label, eager in (("in-request send (eager)", True), ("queued (outbox + Redis)", False)):
        results.append(
            run(label, root=ROOT, eager=eager, smtp_port=server.port, enquiries=args.enquiries)
        )
    print(f"SMTP server answers after {args.smtp_delay:g} s; {args.enquiries} enquiries each")
    print(f"{'configuration':<34}{'median':>10}{'p95':>10}{'max':>10}")
    for r in results:
        print(f"{r['label']:<34}{r['median_ms']:>8.1f}ms{r['p95_ms']:>8.1f}ms{r['max_ms']:>8.1f}ms")
    print(f"messages the slow server accepted meanwhile: {server.received}")
    print("(queued: no worker runs here, so the queued mails wait in Redis; CI's worker sends)")


if __name__ == "__main__":
    main()
