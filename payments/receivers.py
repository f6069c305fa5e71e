"""A lowered balance may cross a clinic's automatic top-up level (billing announces it)."""

from django.dispatch import receiver

from billing.signals import balance_lowered


@receiver(balance_lowered, dispatch_uid="payments_auto_topup")
def auto_topup_on_balance_lowered(sender, clinic_id, balance, **kwargs):
    from payments import autotopup

    if clinic_id in autotopup.watched_clinics():
        autotopup.consider(clinic_id=clinic_id, balance=balance)
