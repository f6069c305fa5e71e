# The Celery app loads with Django, so @shared_task binds to it (``celery -A antidote``).
from antidote.celery import app as celery_app

__all__ = ["celery_app"]
