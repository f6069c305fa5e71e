"""Counts the disputes app keeps of what happens in leads: a charged lead joins the quality
score's counters, in the transaction that charged it."""

from django.dispatch import receiver

from leads.signals import lead_charged


@receiver(lead_charged, dispatch_uid="disputes_count_charged_lead")
def count_charged_lead(sender, lead, **kwargs):
    from disputes.services import count_charged_lead

    count_charged_lead(lead=lead)
