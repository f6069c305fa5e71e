"""The clinic REST API's own rows: clinics' API keys and the responses kept for idempotent
requests.

A key is shown once, when it is created; only its SHA-256 digest is stored, with a visible
prefix to tell keys apart. Keys are long random strings, so a plain digest (not a slow
password hash) is what a leaked table protects them with, and it lets a request be checked
with one indexed lookup.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class ApiKey(models.Model):
    class Scope(models.TextChoices):
        READ = "read", "Read: lists and details"
        WRITE = "write", "Write: also lead status and disputes"

    clinic = models.ForeignKey("leads.Clinic", on_delete=models.PROTECT, related_name="api_keys")
    name = models.CharField(max_length=80)
    scope = models.CharField(max_length=5, choices=Scope.choices, default=Scope.READ)
    # The start of the key, shown in the portal and used to find the row.
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64, help_text="SHA-256 of the whole key, in hex.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(scope__in=["read", "write"]), name="api_key_scope"),
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True) | Q(revoked_by__isnull=False),
                name="api_key_revoked_by_someone",
            ),
        ]

    def __str__(self):
        return f"{self.prefix}… ({self.name}, {self.clinic})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotencyRecord(models.Model):
    """The first response to a POST or PATCH sent with an ``Idempotency-Key``, kept 24 hours.

    One row per clinic and key, by constraint: a second request with the key gets this
    response again, or a 409 if its method, path or body differ.
    """

    clinic = models.ForeignKey("leads.Clinic", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    status_code = models.PositiveSmallIntegerField(null=True)
    body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clinic", "key"], name="one_response_per_key")
        ]

    def __str__(self):
        return f"{self.key} ({self.clinic_id})"
