"""Charge and release held leads that their clinics can now afford."""

from django.core.management.base import BaseCommand

from leads.models import Lead
from leads.services import release_held_leads


class Command(BaseCommand):
    help = (
        "For every clinic with held leads, charge and release them oldest first while the "
        "clinic can afford them (top-ups already do this; this catches anything missed). "
        "Safe to run twice: a lead is charged once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count, change nothing.")

    def handle(self, *args, dry_run, **options):
        clinic_ids = list(
            Lead.objects.filter(billing_state=Lead.Billing.HELD)
            .values_list("clinic_id", flat=True)
            .distinct()
            .order_by("clinic_id")
        )
        if dry_run:
            held = Lead.objects.filter(billing_state=Lead.Billing.HELD).count()
            self.stdout.write(
                f"{held} held lead(s) in {len(clinic_ids)} clinic(s); nothing changed."
            )
            return
        released = 0
        for done, clinic_id in enumerate(clinic_ids, start=1):
            count = len(release_held_leads(clinic_id=clinic_id))
            released += count
            if count:
                self.stdout.write(f"clinic #{clinic_id}: {count} lead(s) released")
            if done % 100 == 0:
                self.stderr.write(f"  {done:,}/{len(clinic_ids):,} clinics")
        still = Lead.objects.filter(billing_state=Lead.Billing.HELD).count()
        self.stdout.write(
            self.style.SUCCESS(
                f"{released} lead(s) released; {still} still held for lack of credits."
            )
        )
