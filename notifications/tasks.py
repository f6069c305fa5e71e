"""Celery tasks: send one outbox message, and sweep up the ones whose task was lost."""

from celery import shared_task

from notifications import services


@shared_task(name="notifications.deliver", ignore_result=True)
def deliver(message_id: int) -> None:
    services.deliver_message(message_id=message_id)


@shared_task(name="notifications.sweep_outbox", ignore_result=True)
def sweep_outbox() -> int:
    return services.sweep_outbox()
