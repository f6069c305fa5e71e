"""What a visitor sees when the database, Redis or the broker is down: a page, never a trace.

Django's own answer to an uncaught exception with ``DEBUG`` off is a bare
``<h1>Server Error (500)</h1>``. This handler answers the outages a running site meets (the
database restarting, Redis or the broker unreachable) with 503 and ``Retry-After``, and every
other crash with a friendly 500. The pages are rendered without the request's context: the
context processors read the session and the database, the very things that may be down. The
REST API gets the same statuses as problem details.
"""

import json
import logging
import sys

import redis.exceptions
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.http import Http404, HttpResponse
from django.template import loader
from kombu.exceptions import OperationalError as BrokerUnavailable

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30
OUTAGES = (
    OperationalError,
    InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    BrokerUnavailable,
)


def server_error(request):
    """``handler500``: Django calls it inside its ``except``, so the exception is at hand."""
    error = sys.exc_info()[1]
    outage = isinstance(error, OUTAGES)
    status = 503 if outage else 500
    if outage:
        logger.warning("service unavailable: %s", type(error).__name__)
    if request.path.startswith("/api/"):
        detail = (
            "A service we depend on is briefly unavailable; nothing was changed. Try again."
            if outage
            else "Something went wrong on our side."
        )
        body = {"type": "about:blank", "status": status, "detail": detail}
        body |= {"title": "Service Unavailable" if outage else "Internal Server Error"}
        body |= {"code": "unavailable" if outage else "error"}
        response = HttpResponse(
            json.dumps(body), status=status, content_type="application/problem+json"
        )
    else:
        template = loader.get_template("503.html" if outage else "500.html")
        response = HttpResponse(template.render(), status=status)
    if outage:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def reference(request):
    """bench/load's yardstick, "Django on this machine": the middleware, one query, a few bytes.

    A 404 unless ``BENCH_REFERENCE_VIEW`` is on. Here because it asks the same question as
    the outage pages, the other way round: can the database answer?
    """
    if not settings.BENCH_REFERENCE_VIEW:
        raise Http404
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return HttpResponse("ok", content_type="text/plain")
