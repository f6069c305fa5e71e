"""Waiting leads are charged and released when their clinic receives credits, staff raise its
overdraft limit, or its budget gets more room (a cap raised, a pause ended)."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from billing.signals import budget_raised, credits_added, overdraft_raised


@receiver(credits_added, dispatch_uid="leads_release_held_leads")
@receiver(overdraft_raised, dispatch_uid="leads_release_held_leads_on_overdraft")
@receiver(budget_raised, dispatch_uid="leads_release_held_leads_on_budget")
def release_held_leads_on_credit(sender, clinic_id, **kwargs):
    from leads.services import release_held_leads

    release_held_leads(clinic_id=clinic_id)


# Outcomes: a saved lead (arrival, charge, release, outcome) or dispute (opened, decided,
# refunded) marks its month to be rebuilt in the pre-aggregate, in the writer's transaction.
# Saves that change only the team's own workflow (assignment, archive) change no figure.
_WORKFLOW_ONLY = frozenset({"assigned_to", "archived"})


@receiver(post_save, sender="leads.Lead", dispatch_uid="leads_outcomes_lead_saved")
def lead_saved(sender, instance, update_fields=None, **kwargs):
    from leads.analytics import mark_dirty

    if update_fields and set(update_fields) <= _WORKFLOW_ONLY:
        return
    mark_dirty(clinic_id=instance.clinic_id, created_at=instance.created_at)


@receiver(post_save, sender="disputes.Dispute", dispatch_uid="leads_outcomes_dispute_saved")
def dispute_saved(sender, instance, **kwargs):
    from leads.analytics import mark_dirty
    from leads.models import Lead

    created_at = Lead.objects.values_list("created_at", flat=True).get(pk=instance.lead_id)
    mark_dirty(clinic_id=instance.clinic_id, created_at=created_at)
