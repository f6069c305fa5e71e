"""Running work on many threads at once, each with its own database connection."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from django.db import connection, connections, transaction

from antidote.errors import AntidoteError


def run_concurrently(work, jobs, *, workers: int) -> list:
    """``work(job)`` for every job, spread over ``workers`` threads; results in job order."""

    def run(job):
        try:
            return work(job)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, jobs))


def succeeded(work):
    """Wrap ``work`` to answer True when it went through and False when a service refused."""

    def attempt(job):
        try:
            work(job)
        except AntidoteError:
            return False
        return True

    return attempt


# Race windows on purpose -------------------------------------------------------------------
#
# A race test that just starts threads together may never overlap them, and then passes with
# or without the lock it is meant to prove. These helpers make the overlap certain without
# touching the code under test: a real second connection holds a row lock that the operations
# need later, every operation is started and seen waiting on a lock (or finished) in
# PostgreSQL, and only then is the row let go.


def lock_waiters() -> int:
    """How many connections to this database are waiting for a lock right now (PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def wait_until(condition, *, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


@contextmanager
def row_locked(queryset):
    """Hold ``SELECT … FOR UPDATE`` on ``queryset``'s rows from another connection."""
    locked, release = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                list(queryset.select_for_update())
                locked.set()
                release.wait(30)
        finally:
            connections.close_all()

    holder = ThreadPoolExecutor(max_workers=1)
    done = holder.submit(hold)
    wait_until(lambda: locked.is_set() or done.done(), what="the row lock")
    if done.done():
        done.result()  # the holder failed: raise its error here
    try:
        yield
    finally:
        release.set()
        done.result(timeout=30)
        holder.shutdown()


def run_overlapped(blocker, works) -> list:
    """Run each of ``works`` (callables) on its own thread while ``blocker`` (a queryset) is
    row-locked; start them one after another, each once the previous is waiting on a lock or
    done, then release. Returns each work's result, or the AntidoteError it raised."""

    def attempt(work):
        try:
            return work()
        except AntidoteError as error:
            return error
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(works)) as pool:
        futures = []
        with row_locked(blocker):
            for work in works:
                futures.append(pool.submit(attempt, work))
                started = len(futures)
                wait_until(
                    lambda started=started: (
                        lock_waiters() + sum(f.done() for f in futures) >= started
                    ),
                    what=f"operation {started} to wait on a lock or finish",
                )
        return [future.result(timeout=30) for future in futures]
