"""Running work on many threads at once, each with its own database connection."""

from concurrent.futures import ThreadPoolExecutor

from django.db import connections

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
