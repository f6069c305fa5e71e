"""The Celery app: ``celery -A antidote worker`` and ``celery -A antidote beat``.

Configuration comes from Django's settings (``CELERY_*``). The beat schedule there runs the
periodic commands that cron used to (they stay commands for operators) and the outbox sweep.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "antidote.settings")

app = Celery("antidote")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
