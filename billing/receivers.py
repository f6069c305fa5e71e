"""Every clinic gets its credit account in the same transaction that creates it."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from billing import services


@receiver(post_save, sender="leads.Clinic", dispatch_uid="billing_open_account")
def open_account_for_new_clinic(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        services.open_account(clinic=instance)
