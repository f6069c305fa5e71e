"""Warn clinics, once per lot, that credits are about to expire."""

import logging

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from billing import services
from billing.selectors import lots_to_warn
from notifications import services as notifications
from notifications.models import EventType

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Tell each clinic, EXPIRY_WARNING_DAYS before a lot expires, how many of its credits "
        "expire and when: one message per lot, claimed in the database first, so running it "
        "twice (or two at once) never sends a lot's warning twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="List, send nothing.")

    def handle(self, *args, dry_run, **options):
        sent = failed = 0
        for lot in lots_to_warn():
            clinic = lot.account.clinic
            day = timezone.localtime(lot.expires_at).date()
            self.stdout.write(
                f"{'would warn' if dry_run else 'warning'} {clinic.name}: {lot.remaining:,} "
                f"credits of lot #{lot.pk} expire on {day:%d %b %Y}"
            )
            if dry_run:
                continue
            try:
                # The claim and the event commit together: a failure leaves the lot unclaimed
                # for the next run, and a second run finds it claimed and emits nothing.
                with transaction.atomic():
                    if not services.claim_expiry_warning(lot_id=lot.pk):
                        continue
                    emit_expiry_warning(lot)
            except Exception as error:
                logger.exception("Expiry warning for lot #%s failed", lot.pk)
                self.stderr.write(self.style.ERROR(f"  could not warn {clinic.name}: {error}"))
                failed += 1
                continue
            sent += 1
        self.stdout.write(self.style.SUCCESS(f"{sent} expiry warning(s) sent."))
        if failed:
            raise CommandError(f"{failed} warning(s) could not be sent; run again to retry them.")


def emit_expiry_warning(lot) -> None:
    """The ``credits.expiring`` event, through the outbox, in the caller's transaction."""
    clinic = lot.account.clinic
    day = timezone.localtime(lot.expires_at).date()
    notifications.emit(
        type=EventType.CREDITS_EXPIRING,
        clinic_id=clinic.pk,
        data={
            "lot": lot.pk,
            "kind": lot.kind,
            "credits": lot.remaining,
            "expires_at": lot.expires_at.isoformat(),
        },
        subject=f"{clinic.name}: {lot.remaining:,} credits expire on {day:%d %b %Y}",
        text=(
            f"{lot.remaining:,} of your Antidote credits expire on {day:%d %b %Y}. Credits are "
            "used soonest-expiring first, so new leads will draw on them before then.\n\n"
            f"Your credits: {settings.SITE_URL}/clinic/credits/history"
        ),
        contact_email=clinic.contact_email,
    )
