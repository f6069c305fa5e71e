"""What every endpoint of the clinic REST API (v1) shares: key authentication, scopes,
throttles, cursor pagination, idempotent writes and one error shape.

Each app's ``api.py`` builds its endpoints on ``ClinicApiView``/``ClinicApiViewSet``; the
router and the schema are in ``antidote.api_urls``. An endpoint acts for ``self.clinic``, the
clinic of the key the request came with, and nothing else.

Errors are RFC 9457 problem details (``application/problem+json``)::

    {"type": "about:blank", "title": "Bad Request", "status": 400,
     "detail": "…", "code": "invalid", "errors": [{"field": "status", "message": "…"}]}
"""

import hashlib
import json
from datetime import timedelta
from functools import wraps
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import IntegrityError, transaction
from django.http import Http404, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, generics, pagination, serializers, status, viewsets
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import exception_handler

from antidote import api_keys
from antidote.errors import AntidoteError
from antidote.models import ApiKey, IdempotencyRecord

PROBLEM_JSON = "application/problem+json"


# Authentication and scopes --------------------------------------------------------------------


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Bearer <key>``. The request's user is the key's creator (for the
    per-user throttle and the audit of what it does); ``request.auth`` is the key."""

    def authenticate(self, request):
        header = request.headers.get("Authorization")
        if not header:
            return None
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise exceptions.AuthenticationFailed(
                "Send the key as 'Authorization: Bearer <key>'.", code="invalid_authorization"
            )
        try:
            key = api_keys.key_for_token(token.strip())
        except AntidoteError as refusal:
            raise exceptions.AuthenticationFailed(refusal.message, code=refusal.code) from None
        return (key.created_by, key)

    def authenticate_header(self, request):
        # A 401 (not a 403) for a missing or bad key, with the scheme to use.
        return 'Bearer realm="api"'


class KeyScope(BasePermission):
    """Any active key may read; only a write key may change anything."""

    message = "Send an API key of your clinic: 'Authorization: Bearer <key>'."

    def has_permission(self, request, view):
        key = request.auth
        if not isinstance(key, ApiKey):
            return False
        if request.method in SAFE_METHODS or key.scope == ApiKey.Scope.WRITE:
            return True
        self.message = (
            f"The key {key.prefix}… is read-only. Ask an owner of the clinic for a write key."
        )
        return False


# Throttles ------------------------------------------------------------------------------------


class _SettingsRateThrottle(SimpleRateThrottle):
    """Rates read from ``API_THROTTLE_RATES`` on each request, so tests and operators can
    change them; counts live in the default cache (Redis in production, shared by all web
    workers). A 429 carries ``Retry-After``."""

    def get_rate(self):
        return settings.API_THROTTLE_RATES[self.scope]


class KeyRateThrottle(_SettingsRateThrottle):
    scope = "key"

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, ApiKey):
            return None
        return f"throttle:api:key:{request.auth.pk}"


class UserRateThrottle(_SettingsRateThrottle):
    """All keys one person created share a bucket, so minting keys does not multiply it."""

    scope = "user"

    def get_cache_key(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return None
        return f"throttle:api:user:{request.user.pk}"


# Errors ---------------------------------------------------------------------------------------

_STATUS_FOR_CODE = {
    "not_found": status.HTTP_404_NOT_FOUND,
    "clinic_mismatch": status.HTTP_409_CONFLICT,
    "conflict": status.HTTP_409_CONFLICT,
}


def _field_errors(detail, path=""):
    """DRF's nested error detail as a flat list of {field, message}."""
    if isinstance(detail, dict):
        for name, value in detail.items():
            name = "" if name in ("non_field_errors", "detail") else str(name)
            yield from _field_errors(value, f"{path}.{name}" if path and name else path or name)
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            nested = isinstance(value, dict | list)
            yield from _field_errors(value, f"{path}.{index}" if nested and path else path)
    else:
        yield {"field": path or None, "message": str(detail)}


def problem(status_code: int, detail: str, *, code: str, errors=None, headers=None) -> Response:
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status_code).phrase,
        "status": status_code,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    return Response(body, status=status_code, headers=headers, content_type=PROBLEM_JSON)


def problem_exception_handler(exc, context):
    """Every refusal of the API as problem details; anything else stays a 500."""
    if isinstance(exc, AntidoteError):
        return problem(
            _STATUS_FOR_CODE.get(exc.code, status.HTTP_400_BAD_REQUEST), exc.message, code=exc.code
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found (or not your clinic's).")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    headers = {k: v for k, v in response.items() if k in ("WWW-Authenticate", "Retry-After")}
    if isinstance(exc, exceptions.ValidationError):
        errors = list(_field_errors(exc.detail))
        detail = errors[0]["message"] if len(errors) == 1 else "Some fields are not valid."
        return problem(response.status_code, detail, code="invalid", errors=errors, headers=headers)
    codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    return problem(
        response.status_code,
        str(exc.detail) if isinstance(exc, exceptions.APIException) else str(exc),
        code=codes if isinstance(codes, str) else "error",
        headers=headers,
    )


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details, as every error of the API is shaped (for the schema)."""

    class FieldError(serializers.Serializer):
        field = serializers.CharField(allow_null=True, help_text="Dotted path; null: the body.")
        message = serializers.CharField()

    type = serializers.CharField(help_text='"about:blank": the status says what happened.')
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField(help_text="What happened and what to do, for a person.")
    code = serializers.CharField(help_text="A stable machine-readable name.")
    errors = FieldError(many=True, required=False)


def dates_in_order(attrs: dict) -> dict:
    """For filter serializers with ``date_from`` and ``date_to``: not backwards."""
    if attrs.get("date_from") and attrs.get("date_to") and attrs["date_from"] > attrs["date_to"]:
        raise serializers.ValidationError("date_from is after date_to.")
    return attrs


# Pagination -----------------------------------------------------------------------------------


class NewestFirstCursor(pagination.CursorPagination):
    """Cursor pages, newest first: stable while new rows arrive, unlike page numbers."""

    ordering = ("-created_at", "-id")
    page_size = 50
    max_page_size = 200
    page_size_query_param = "limit"
    page_size_query_description = "Items per page, 1 to 200 (default 50)."
    invalid_cursor_message = "The cursor is not one this API gave out; start from the first page."

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw in (None, ""):
            return self.page_size
        field = serializers.IntegerField(
            min_value=1,
            max_value=self.max_page_size,
            error_messages={
                key: "limit must be a whole number from 1 to 200."
                for key in ("invalid", "min_value", "max_value", "max_string_length")
            },
        )
        try:
            return field.run_validation(raw)
        except serializers.ValidationError as error:
            raise serializers.ValidationError({"limit": error.detail}) from None

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound:
            raise serializers.ValidationError({"cursor": self.invalid_cursor_message}) from None


class ByIdCursor(NewestFirstCursor):
    """For rows whose ids are in creation order: one unique key, no ties."""

    ordering = "-id"


# Idempotency ----------------------------------------------------------------------------------

IDEMPOTENCY_WINDOW = timedelta(hours=24)
_KEY_FIELD = serializers.RegexField(
    r"^[\x21-\x7e]{1,255}$",
    error_messages={"invalid": "Idempotency-Key must be 1 to 255 printable ASCII characters."},
)


def _fingerprint(request) -> str:
    """Method, path and body, the same however the body's fields were ordered."""
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.path}\n".encode())
    data = request.data
    if hasattr(data, "lists"):
        fields = sorted((k, v) for k, values in data.lists() for v in values if isinstance(v, str))
    else:
        fields = data
    digest.update(json.dumps(fields, sort_keys=True, default=str).encode())
    for name in sorted(getattr(request, "FILES", {})):
        for each in request.FILES.getlist(name):
            digest.update(f"\nfile {name} {each.name} {each.size}\n".encode())
            for chunk in each.chunks():
                digest.update(chunk)
            each.seek(0)
    return digest.hexdigest()


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.fingerprint != fingerprint or record.status_code is None:
        return problem(
            status.HTTP_409_CONFLICT,
            "This Idempotency-Key was already used for a different request in the last 24 "
            "hours. Use a new key for a new request.",
            code="idempotency_key_reused",
        )
    response = Response(record.body, status=record.status_code)
    if record.status_code >= 400:
        response.content_type = PROBLEM_JSON
    response["Idempotent-Replayed"] = "true"
    return response


def idempotent(handler):
    """POST/PATCH with ``Idempotency-Key``: the first response is kept 24 hours per clinic and
    key; the same request again gets it back, a different one a 409.

    The key is claimed by inserting its row in the same transaction as the work, so two
    concurrent requests with one key cannot both run it: the second waits on the unique index
    and then replays the first's response (or gets the 409).
    """

    @wraps(handler)
    def wrapped(self, request, *args, **kwargs):
        raw = request.headers.get("Idempotency-Key")
        if raw is None:
            return handler(self, request, *args, **kwargs)
        try:
            key = _KEY_FIELD.run_validation(raw)
        except serializers.ValidationError as error:
            raise serializers.ValidationError({"Idempotency-Key": error.detail}) from None
        clinic = self.clinic
        fingerprint = _fingerprint(request)
        cutoff = timezone.now() - IDEMPOTENCY_WINDOW
        IdempotencyRecord.objects.filter(clinic=clinic, created_at__lt=cutoff).delete()
        existing = IdempotencyRecord.objects.filter(clinic=clinic, key=key).first()
        if existing is not None:
            return _replay(existing, fingerprint)
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    clinic=clinic, key=key, fingerprint=fingerprint
                )
                try:
                    response = handler(self, request, *args, **kwargs)
                except (AntidoteError, exceptions.APIException, Http404) as refusal:
                    response = self.handle_exception(refusal)
                if response.status_code >= 500:
                    transaction.set_rollback(True)
                    return response
                record.status_code, record.body = response.status_code, response.data
                record.save(update_fields=["status_code", "body"])
        except IntegrityError:
            # Another request claimed the key first and has committed by now.
            return _replay(IdempotencyRecord.objects.get(clinic=clinic, key=key), fingerprint)
        return response

    return wrapped


# Bases ----------------------------------------------------------------------------------------


@csrf_exempt  # the API has no cookies to protect; a POST here is a 404 like any other
def not_found(request, *args, **kwargs):
    """Any other path under /api/v1/: a problem, not the site's HTML page."""
    response = JsonResponse(
        {
            "type": "about:blank",
            "title": "Not Found",
            "status": 404,
            "detail": "There is no such endpoint or object; see /api/v1/docs/.",
            "code": "not_found",
        },
        status=404,
    )
    response["Content-Type"] = PROBLEM_JSON
    return response


class ClinicApiMixin:
    # Ids are plain digits (bigint-sized): anything else is a 404 from not_found, never a
    # lookup that the database would refuse.
    lookup_value_regex = "[0-9]{1,18}"
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [KeyScope]
    throttle_classes = [KeyRateThrottle, UserRateThrottle]
    pagination_class = NewestFirstCursor

    @property
    def clinic(self):
        return self.request.auth.clinic

    def get_exception_handler(self):
        return problem_exception_handler


class ClinicApiView(ClinicApiMixin, generics.GenericAPIView):
    pass


class ClinicApiViewSet(ClinicApiMixin, viewsets.GenericViewSet):
    pass
