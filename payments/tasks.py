"""Celery tasks: charge one automatic top-up, and sweep up jobs whose task was lost."""

from celery import shared_task

from payments import autotopup


@shared_task(name="payments.charge_auto_topup", ignore_result=True)
def charge_auto_topup(job_id: int) -> None:
    autotopup.charge(job_id=job_id)


@shared_task(name="payments.sweep_auto_topups", ignore_result=True)
def sweep_auto_topups() -> int:
    return autotopup.sweep()
