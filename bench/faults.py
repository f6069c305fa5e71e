#!/usr/bin/env python
"""Faults under load: bench/load.py's stack and mixed load, and in turn

1. PostgreSQL restarted (the bench's own cluster, ``pg_ctlcluster 15 load restart``);
2. Redis stopped for 30 s (the bench's own ``redis-server``: cache, throttles, broker);
3. the fake Razorpay answering 500s, then timing out, then answering HTML, 20 s each;
4. a gunicorn worker killed (SIGKILL; the master starts another);
5. the Celery worker killed (SIGKILL), started again 20 s later.

    .venv/bin/python bench/faults.py [--users 12] [--settle 15]

Every request is logged with what its user saw (bench/locustfile.py's ``seen``: a page, a
refusal, the friendly 503, a friendly 500, a traceback, a bare error, no answer). For each
fault the script prints what users saw from its start until ``--settle`` seconds after it
ended, and the recovery time: from the fault's end to the last failed request. Then the same
checks as bench/load.py (exactly once, ledger and payments reconciled, no orphaned outbox
rows). Exits 1 if a user saw a traceback or a bare error, or a check failed.
"""

import argparse
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import BIN, MIXED, ROOT, Stack, stop_cleanly

BAD = ("traceback", "bare")


def set_razorpay(stack: Stack, mode: str) -> None:
    request = urllib.request.Request(f"{stack.razorpay.url}/bench/mode/{mode}", method="POST")
    urllib.request.urlopen(request, timeout=5).close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=12)
    parser.add_argument("--settle", type=int, default=15, help="seconds between faults")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    stop_cleanly()
    workdir = Path(tempfile.mkdtemp(prefix="antidote-faults-"))
    stack = Stack(workdir)
    faults: list[tuple[str, float, float]] = []
    try:
        print(f"starting the stack (logs in {workdir}) …", flush=True)
        stack.start()
        settle = args.settle
        total = 10 + 6 * settle + 30 + 3 * 20 + 20 + 30
        env = {
            **os.environ,
            "BENCH_FIXTURES": str(workdir / "fixtures.json"),
            "BENCH_RECORD": str(workdir / "faults-record.json"),
            "BENCH_REQUEST_LOG": str(workdir / "faults-requests.csv"),
            "BENCH_RAZORPAY": stack.razorpay.url,
            "BENCH_KEY_SECRET": stack.env["RAZORPAY_KEY_SECRET"],
            "BENCH_WEBHOOK_SECRET": stack.env["RAZORPAY_WEBHOOK_SECRET"],
            "BENCH_PHONE_PREFIX": "93",
            "BENCH_MAX_REQUESTS": "1000000",
        }
        load = subprocess.Popen(
            [
                str(BIN / "locust"),
                "-f",
                str(ROOT / "bench" / "locustfile.py"),
                "--headless",
                "--host",
                stack.url,
                "--users",
                str(args.users),
                "--spawn-rate",
                str(args.users),
                "--run-time",
                f"{total}s",
                "--stop-timeout",
                "10",
                "--only-summary",
                "--loglevel",
                "WARNING",
                *MIXED,
            ],
            cwd=ROOT,
            env=env,
            stdout=stack.log("locust-faults"),
            stderr=subprocess.STDOUT,
        )
        print(f"mixed load, {args.users} users, about {total} s …", flush=True)
        time.sleep(10)

        def fault(name, begin, end):
            started = time.time()
            print(f"- {name}", flush=True)
            begin()
            ended = time.time()
            if end is not None:
                end()
                ended = time.time()
            faults.append((name, started, ended))
            time.sleep(settle)

        fault("PostgreSQL restarted", stack.restart_postgres, None)

        def redis_back():
            time.sleep(30)
            stack.start_redis()

        fault("Redis stopped for 30 s", stack.stop_redis, redis_back)
        for mode, name in (("5xx", "500s"), ("slow", "timeouts"), ("html", "HTML answers")):
            fault(
                f"Razorpay {name} for 20 s",
                lambda mode=mode: set_razorpay(stack, mode),
                lambda: (time.sleep(20), set_razorpay(stack, "ok")),
            )
        fault(
            "a gunicorn worker killed",
            lambda: os.kill(stack.gunicorn_workers()[0], signal.SIGKILL),
            None,
        )

        def celery_back():
            time.sleep(20)
            stack.start_celery()

        fault(
            "the Celery worker killed (back after 20 s)",
            lambda: stack.end("celery", signal.SIGKILL),
            celery_back,
        )
        load.wait()

        with open(workdir / "faults-requests.csv", newline="") as file:
            requests = [(float(row["t"]), row["name"], row["seen"]) for row in csv.DictReader(file)]
        print("\n| fault | requests | what users saw (other than a page) | recovery |")
        print("|---|---:|---|---:|")
        worst = Counter()
        for index, (name, started, ended) in enumerate(faults):
            until = faults[index + 1][1] if index + 1 < len(faults) else ended + settle
            window = [r for r in requests if started <= r[0] < until]
            seen = Counter(r[2] for r in window if r[2] != "ok")
            worst.update(seen)
            failed = [t for t, _, what in window if what != "ok" and not what.startswith("ref")]
            recovery = max(0.0, max(failed) - ended) if failed else 0.0
            what = ", ".join(f"{n} {kind}" for kind, n in seen.most_common()) or "nothing"
            print(f"| {name} | {len(window):,} | {what} | {recovery:.1f} s |")
        print("\n## Checks after the run\n")
        results = stack.checks([workdir / "faults-record.json"])
        bad = sum(n for kind, n in worst.items() if kind.startswith(BAD))
        results.insert(0, ("no traceback or bare error seen", bad == 0, f"{bad} seen"))
        for name, ok, detail in results:
            print(f"- {'OK  ' if ok else 'FAIL'} {name}: {detail}")
        (workdir / "faults.json").write_text(json.dumps(faults))
        return 0 if all(ok for _, ok, _ in results) else 1
    finally:
        stack.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
