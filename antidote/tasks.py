"""Periodic work for beat: each operator command, run by name as its own task."""

from io import StringIO

from celery import shared_task
from django.core.management import call_command

# The commands beat may run; a name outside this list is refused, never called.
PERIODIC_COMMANDS = frozenset(
    {
        "reconcile",
        "reconcile_payments",
        "release_held_leads",
        "send_low_balance_alerts",
        "expire_credits",
        "warn_expiring_credits",
    }
)


@shared_task(name="antidote.run_command", ignore_result=True)
def run_command(name: str, *args: str) -> str:
    if name not in PERIODIC_COMMANDS:
        raise ValueError(f"{name!r} is not a periodic command.")
    out = StringIO()
    call_command(name, *args, stdout=out, stderr=out)
    return out.getvalue()[-2000:]
