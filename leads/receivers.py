"""Held leads are charged and released when their clinic receives credits, or staff raise its
overdraft limit."""

from django.dispatch import receiver

from billing.signals import credits_added, overdraft_raised


@receiver(credits_added, dispatch_uid="leads_release_held_leads")
@receiver(overdraft_raised, dispatch_uid="leads_release_held_leads_on_overdraft")
def release_held_leads_on_credit(sender, clinic_id, **kwargs):
    from leads.services import release_held_leads

    release_held_leads(clinic_id=clinic_id)
