"""Charge and release waiting leads (held for credits, or over budget) that their clinics can
now afford and whose budgets now allow them."""

from django.core.management.base import BaseCommand, CommandError

from antidote.errors import AntidoteError
from antidote.logs import logged_command
from leads.models import Clinic, Lead
from leads.services import release_held_leads


@logged_command
class Command(BaseCommand):
    help = (
        "For every clinic with waiting leads (held for credits or over its budget), charge "
        "and release them oldest first while the clinic can afford them and its caps and "
        "pause allow (top-ups and budget changes already do this; this catches anything "
        "missed, and releases over-budget leads when a week, month or pause ends). "
        "A clinic that fails (an inactive one, say) is reported on stderr and the others are "
        "still released; the exit code is then 1. Safe to run twice: a lead is charged once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count, change nothing.")

    def handle(self, *args, dry_run, **options):
        clinic_ids = list(
            Lead.objects.filter(billing_state__in=Lead.WAITING_STATES)
            .values_list("clinic_id", flat=True)
            .distinct()
            .order_by("clinic_id")
        )
        if dry_run:
            held = Lead.objects.filter(billing_state__in=Lead.WAITING_STATES).count()
            self.stdout.write(
                f"{held} held lead(s) in {len(clinic_ids)} clinic(s); nothing changed."
            )
            return
        released, failed = 0, []
        for done, clinic_id in enumerate(clinic_ids, start=1):
            # One clinic's refusal must never stop the clinics after it from being released.
            try:
                count = len(release_held_leads(clinic_id=clinic_id))
            except AntidoteError as error:
                name = Clinic.objects.filter(pk=clinic_id).values_list("name", flat=True).first()
                failed.append(f"{name} (clinic #{clinic_id})")
                self.stderr.write(f"{failed[-1]}: not released: {error.message}")
                continue
            released += count
            if count:
                self.stdout.write(f"clinic #{clinic_id}: {count} lead(s) released")
            if done % 100 == 0:
                self.stderr.write(f"  {done:,}/{len(clinic_ids):,} clinics")
        still = Lead.objects.filter(billing_state__in=Lead.WAITING_STATES).count()
        summary = f"{released} lead(s) released; {still} still waiting (credits or budget)."
        if failed:
            raise CommandError(
                f"{summary} {len(failed)} clinic(s) could not be released: {', '.join(failed)}.",
                returncode=1,
            )
        self.stdout.write(self.style.SUCCESS(summary))
