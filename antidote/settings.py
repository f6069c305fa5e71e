"""Settings, read from the environment through django-environ.

With nothing set the app runs on a SQLite file with DEBUG off; ``DATABASE_URL=postgres://…``
switches to PostgreSQL. Production variables are listed in the README.
"""

import re
import sys
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# The fallback key is only good for a laptop: `check --deploy` flags it (security.W009).
SECRET_KEY = env("SECRET_KEY", default="django-insecure-local-development-key-change-me")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "antidote.apps.BackOfficeAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "simple_history",
    "csp",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "antidote",
    "leads",
    "billing",
    "payments",
    "disputes",
    "notifications",
]

MIDDLEWARE = [
    # First: every log line of the request, the other middleware's included, carries its id.
    "antidote.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "antidote.csp.PaymentAwareCSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "antidote.urls"
WSGI_APPLICATION = "antidote.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            # {{ n|num }}, {{ paise|paise }}, {{ n|signed }}: Indian grouping on every page.
            "builtins": ["antidote.templatetags.money"],
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "antidote.portal.portal_context",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's own queries stay client-side bound (never prepared); this only lets the
    # ledger's posting statement ask to be prepared once per connection (billing.services).
    # Behind pgbouncer in transaction mode before 1.21 (or without max_prepared_statements), a
    # statement prepared on one server connection is missing on the next transaction's:
    # DATABASE_PREPARED_STATEMENTS=false turns preparing off (the posting is planned each time).
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "prepare_threshold",
        1_000_000 if env.bool("DATABASE_PREPARED_STATEMENTS", default=True) else None,
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Wait for a writer instead of failing at once when the dev server and a command overlap.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

# bench/load's reference: /bench/reference answers after one query (off: the path is a 404).
BENCH_REFERENCE_VIEW = env.bool("BENCH_REFERENCE_VIEW", default=False)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-in"
TIME_ZONE = "Asia/Kolkata"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# Brute force (django-axes): failed logins are counted per account and, separately, per client
# address, on the portal login and the admin login alike. Either counter reaching the limit
# refuses that account (or address) for the cool-off, even with the right password.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
# A success must not wipe the counts: an attacker would log in to their own account between
# guesses to clear the address counter (axes resets by username OR address).
AXES_RESET_ON_SUCCESS = False
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# The client behind the README's proxy, not the proxy (TRUSTED_PROXY_COUNT, default 0).
AXES_CLIENT_IP_CALLABLE = "antidote.accounts.client_ip"
AXES_HANDLER = "antidote.accounts.LoginAttemptHandler"
AXES_VERBOSE = False  # no banner on every manage.py command; lockouts are still logged
# The admin never shows an authenticator's seed (its key field, config page and QR code):
# staff enrol with `manage.py staff_totp`, and another staff member who could read the seed
# could copy the second factor. The config and QR pages are then a 403 for every device,
# where a missing one was a 500 and the QR code a 503 without the qrcode package.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# Password-reset emails per address per hour; over it the form answers the same, sends nothing.
PASSWORD_RESET_EMAIL_LIMIT = env.int("PASSWORD_RESET_EMAIL_LIMIT", default=3)
PASSWORD_RESET_EMAIL_WINDOW_SECONDS = 3600

# Content-Security-Policy (django-csp 4): nothing inline, nothing from elsewhere. In live payment
# mode antidote.csp adds Razorpay's checkout origin (RAZORPAY_CHECKOUT_JS) for the top-up.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "frame-src": [NONE],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# A session ends after 12 hours without a request: every request pushes the expiry forward, so a
# clinic working all day stays logged in and a forgotten front-desk browser does not.
SESSION_COOKIE_AGE = 12 * 60 * 60
SESSION_SAVE_EVERY_REQUEST = True

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "leads:dashboard"
LOGOUT_REDIRECT_URL = "login"

EMAIL_CONFIG = env.email("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
# Seconds an SMTP connect/read may take. Mail leaves from a Celery worker (the outbox), never
# inside a request, so this only bounds how long a hanging server holds a worker.
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10)
# Absolute links in emails.
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="billing@antidote.local")

# Security: strict whenever DEBUG is off; each can be relaxed from the environment.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's defaults, with a JSON parser that refuses absurdly nested bodies with a 400.
    "DEFAULT_PARSER_CLASSES": [
        "antidote.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# The clinic REST API (/api/v1/, antidote.restapi). Requests per key, and per person over all the
# keys they created, counted in the default cache (CACHE_URL: Redis in production, so every web
# worker shares the counts). "600/min" style; a 429 carries Retry-After.
API_THROTTLE_RATES = {
    "key": env("API_THROTTLE_PER_KEY", default="600/min"),
    "user": env("API_THROTTLE_PER_USER", default="1200/min"),
}
for _scope, _rate in API_THROTTLE_RATES.items():
    # Checked here, not at the first request: a typo would make every API call a 500.
    if not re.fullmatch(r"[1-9][0-9]{0,6}/(s|sec|second|m|min|minute|h|hour|d|day)", _rate):
        raise ImproperlyConfigured(
            f"API_THROTTLE_PER_{_scope.upper()} must look like 600/min (per s, min, h or d), "
            f"not {_rate!r}."
        )
SPECTACULAR_SETTINGS = {
    "TITLE": "Antidote clinic API",
    "DESCRIPTION": (
        "Read a clinic's leads, balance, ledger, payments and documents; update a lead's "
        "status; open and cancel disputes. Authenticate with `Authorization: Bearer <key>` "
        "(keys: /clinic/api-keys, owners only). POST and PATCH accept an `Idempotency-Key` "
        "header (kept 24 hours). Errors are RFC 9457 problem details."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["antidote.api_schema.only_api_v1"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "antidote.api_schema.problem_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "LeadStatusEnum": "leads.models.Lead.Status",
        "DisputeStatusEnum": "disputes.models.Dispute.Status",
        "PaymentStatusEnum": "payments.models.PaymentOrder.Status",
        "DocumentTypeEnum": "payments.api.DOCUMENT_TYPES",
    },
}

# One JSON line per event on standard error (the process manager keeps it: journald, docker
# logs), with the request id; contact details are redacted on every record (antidote.logs).
# LOG_FILE also appends the same lines to a file.
LOG_FILE = env("LOG_FILE", default="")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "antidote.logs.RedactContactDetails"}},
    "formatters": {"json": {"()": "antidote.logs.JsonFormatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["redact"]},
        **(
            {
                "file": {
                    "class": "logging.handlers.WatchedFileHandler",
                    "filename": LOG_FILE,
                    "formatter": "json",
                    "filters": ["redact"],
                }
            }
            if LOG_FILE
            else {}
        ),
    },
    "root": {
        "handlers": ["console", *(["file"] if LOG_FILE else [])],
        "level": env("LOG_LEVEL", default="INFO"),
    },
}

# Business settings
LEAD_DUPLICATE_WINDOW_DAYS = env.int("LEAD_DUPLICATE_WINDOW_DAYS", default=30)
# reconcile_ledger fails when a clinic's oldest waiting lead is older than this while the
# clinic could pay for it (the release after a top-up, and the safety net, both missed it).
HELD_LEAD_ALERT_MINUTES = env.int("HELD_LEAD_ALERT_MINUTES", default=60)
# Credit lots (billing): how long credits stay spendable, and the expiry warning's lead time.
PAID_CREDIT_VALIDITY_DAYS = env.int("PAID_CREDIT_VALIDITY_DAYS", default=365)
BONUS_CREDIT_VALIDITY_DAYS = env.int("BONUS_CREDIT_VALIDITY_DAYS", default=90)
REFUND_GRACE_DAYS = env.int("REFUND_GRACE_DAYS", default=30)
EXPIRY_WARNING_DAYS = env.int("EXPIRY_WARNING_DAYS", default=7)
# Enquiry rate limit (counting rules in leads/throttle.py): valid enquiries per sender address
# and per patient's number, invalid submissions per sender in their own bucket; never per clinic.
LEAD_RATE_LIMIT = env.int("LEAD_RATE_LIMIT", default=5)
LEAD_RATE_WINDOW_SECONDS = env.int("LEAD_RATE_WINDOW_SECONDS", default=600)
LEAD_PHONE_RATE_LIMIT = env.int("LEAD_PHONE_RATE_LIMIT", default=5)
LEAD_PHONE_RATE_WINDOW_SECONDS = env.int("LEAD_PHONE_RATE_WINDOW_SECONDS", default=3600)
LEAD_INVALID_RATE_LIMIT = env.int("LEAD_INVALID_RATE_LIMIT", default=20)
# How many reverse proxies in front of the app append to X-Forwarded-For. 0: the header is
# ignored (anyone can forge it) and the peer address is the sender.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# Payments (Razorpay). The mode is chosen, never derived: "live" (the default) needs the keys
# and refuses to start without them; "test" is an explicit opt-in for the demo and the tests,
# where a local checkout stand-in plays Razorpay and no money moves (check --deploy flags it).
PAYMENT_MODE = env.str("PAYMENT_MODE", default="live").strip().lower()
RAZORPAY_KEY_ID = env("RAZORPAY_KEY_ID", default="")
RAZORPAY_KEY_SECRET = env("RAZORPAY_KEY_SECRET", default="")
RAZORPAY_WEBHOOK_SECRET = env("RAZORPAY_WEBHOOK_SECRET", default="")
if PAYMENT_MODE not in {"live", "test"}:
    raise ImproperlyConfigured(f"PAYMENT_MODE must be 'live' or 'test', not {PAYMENT_MODE!r}.")
# Only building and checking the schema runs without keys (CI, a fresh clone, a deploy step
# before secrets are mounted): `manage.py` with one of these commands, nothing else. The web
# server (WSGI, ASGI, runserver) and every other command refuse, so money never moves.
_SCHEMA_COMMANDS = {"makemigrations", "migrate", "showmigrations", "sqlmigrate"}
_schema_only = (
    Path(sys.argv[0]).name == "manage.py" and len(sys.argv) > 1 and sys.argv[1] in _SCHEMA_COMMANDS
)
if PAYMENT_MODE == "live" and not (RAZORPAY_KEY_ID and RAZORPAY_KEY_SECRET) and not _schema_only:
    raise ImproperlyConfigured(
        "PAYMENT_MODE is 'live' but RAZORPAY_KEY_ID and RAZORPAY_KEY_SECRET are not both set. "
        "Set the keys, or PAYMENT_MODE=test for a demo in which no real money moves."
    )
# The test-mode checkout stand-in lets a clinic pay itself: with DEBUG off it answers only when
# an operator allows it explicitly (a staging site), and check --deploy still reports it.
PAYMENT_TEST_CHECKOUT_WITHOUT_DEBUG = env.bool("PAYMENT_TEST_CHECKOUT_WITHOUT_DEBUG", default=False)
RAZORPAY_API_BASE = env("RAZORPAY_API_BASE", default="https://api.razorpay.com")
RAZORPAY_CHECKOUT_JS = env(
    "RAZORPAY_CHECKOUT_JS", default="https://checkout.razorpay.com/v1/checkout.js"
)
RAZORPAY_TIMEOUT_SECONDS = env.float("RAZORPAY_TIMEOUT_SECONDS", default=10)
TOPUP_MIN_PAISE = env.int("TOPUP_MIN_PAISE", default=1_000_00)
TOPUP_MAX_PAISE = env.int("TOPUP_MAX_PAISE", default=10_00_000_00)
PAYMENT_ORDER_EXPIRY_MINUTES = env.int("PAYMENT_ORDER_EXPIRY_MINUTES", default=60)
# Razorpay lets a customer retry on the same order after a failed attempt, so reconciliation
# asks about every uncredited order this young, whatever its status.
PAYMENT_RECONCILE_LOOKBACK_DAYS = env.int("PAYMENT_RECONCILE_LOOKBACK_DAYS", default=30)

# GST (payments/gst.py, payments/documents.py). Listed prices are taxable values; Razorpay is
# charged the total with GST. The supplier's details print on every tax invoice, so in live
# mode they are required and the app refuses to start without them; the test-payment mode
# uses clearly fake ones (a demo's invoice says TEST on every line that names the supplier).
GST_TREATMENT = env.str("GST_TREATMENT", default="invoice_at_payment")
if GST_TREATMENT != "invoice_at_payment":
    raise ImproperlyConfigured(
        f"GST_TREATMENT must be 'invoice_at_payment' (the only treatment built), not "
        f"{GST_TREATMENT!r}."
    )
GST_RATE_BASIS_POINTS = env.int("GST_RATE_BASIS_POINTS", default=1800)
GST_SAC = env.str("GST_SAC", default="998365")
GST_INVOICE_PREFIX = env.str("GST_INVOICE_PREFIX", default="INV")
GST_CREDIT_NOTE_PREFIX = env.str("GST_CREDIT_NOTE_PREFIX", default="CN")
_GST_SUPPLIER = (
    "GST_SUPPLIER_LEGAL_NAME",
    "GST_SUPPLIER_GSTIN",
    "GST_SUPPLIER_STATE_CODE",
    "GST_SUPPLIER_ADDRESS",
)
_GST_TEST_SUPPLIER = {
    "GST_SUPPLIER_LEGAL_NAME": "TEST SUPPLIER - Antidote demo (not a tax invoice)",
    "GST_SUPPLIER_GSTIN": "29AAACA1234A1ZG",
    "GST_SUPPLIER_STATE_CODE": "29",
    "GST_SUPPLIER_ADDRESS": "TEST ADDRESS, 1 Demo Road, Bengaluru 560001",
}
_gst_defaults = _GST_TEST_SUPPLIER if PAYMENT_MODE == "test" else {}
GST_SUPPLIER_LEGAL_NAME, GST_SUPPLIER_GSTIN, GST_SUPPLIER_STATE_CODE, GST_SUPPLIER_ADDRESS = (
    env.str(name, default=_gst_defaults.get(name, "")).strip() for name in _GST_SUPPLIER
)
_gst_missing = [name for name in _GST_SUPPLIER if not globals()[name]]
# Missing only where the schema commands run without it (above); the system checks then skip it.
GST_SUPPLIER_CONFIGURED = not _gst_missing
if _gst_missing and not _schema_only:
    raise ImproperlyConfigured(
        f"PAYMENT_MODE is 'live' but {', '.join(_gst_missing)} not set: tax invoices cannot "
        "be issued without the supplier's details. Set them, or PAYMENT_MODE=test for a demo."
    )
if not (0 <= GST_RATE_BASIS_POINTS <= 10_000):
    raise ImproperlyConfigured("GST_RATE_BASIS_POINTS must be between 0 and 10000 (1800 = 18%).")
if not (1 <= len(GST_INVOICE_PREFIX) <= 3 and 1 <= len(GST_CREDIT_NOTE_PREFIX) <= 3):
    # A document number is at most 16 characters: PREFIX/26-27/000123.
    raise ImproperlyConfigured("GST_INVOICE_PREFIX and GST_CREDIT_NOTE_PREFIX: 1 to 3 characters.")

# Disputes
PRIVATE_MEDIA_ROOT = env("PRIVATE_MEDIA_ROOT", default=str(BASE_DIR / "private-media"))
DISPUTE_WINDOW_DAYS = env.int("DISPUTE_WINDOW_DAYS", default=7)
DISPUTE_AUTO_APPROVE = env.bool("DISPUTE_AUTO_APPROVE", default=True)
DISPUTE_MIN_DESCRIPTION = env.int("DISPUTE_MIN_DESCRIPTION", default=20)
DISPUTE_EVIDENCE_MAX_BYTES = env.int("DISPUTE_EVIDENCE_MAX_BYTES", default=5 * 1024 * 1024)
DISPUTE_EVIDENCE_MAX_FILES = env.int("DISPUTE_EVIDENCE_MAX_FILES", default=5)
QUALITY_WINDOW_DAYS = env.int("QUALITY_WINDOW_DAYS", default=90)

# Background jobs: Celery on Redis. Tasks run in-process only when CELERY_TASK_ALWAYS_EAGER=true
# is set explicitly (bin/demo, the SQLite suite); otherwise a broker is required, and a process
# without one refuses to start, as live payments without keys do. Eager mode with DEBUG off is a
# deploy error (antidote.E103): every request would wait on mail servers and webhooks again.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="")
if not CELERY_TASK_ALWAYS_EAGER and not CELERY_BROKER_URL and not _schema_only:
    raise ImproperlyConfigured(
        "CELERY_BROKER_URL is not set. Point it at Redis (redis://127.0.0.1:6379/0), or set "
        "CELERY_TASK_ALWAYS_EAGER=true for a demo in which tasks run inside the request."
    )
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a worker that dies mid-task leaves the task for another
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Queueing a task never holds a request on a dead broker: the outbox row is already committed,
# and the sweep queues it once the broker is back.
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 5}
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    "sweep-outbox": {"task": "notifications.sweep_outbox", "schedule": 60.0},
    # Automatic top-ups: a job whose task was lost, and charges still waiting for Razorpay.
    "sweep-auto-topups": {"task": "payments.sweep_auto_topups", "schedule": 300.0},
    "reconcile-payments": {
        "task": "antidote.run_command",
        "schedule": 600.0,
        "args": ["reconcile_payments", "--older-than", "15"],
    },
    "release-held-leads": {
        "task": "antidote.run_command",
        "schedule": 900.0,
        "args": ["release_held_leads"],
    },
    # Budget periods and dated pauses end at 00:00 IST (CELERY_TIMEZONE): leads waiting over
    # budget are released, oldest first, as the new week, month or day begins.
    "release-leads-at-budget-reset": {
        "task": "antidote.run_command",
        "schedule": crontab(minute=0, hour=0),
        "args": ["release_held_leads"],
    },
    # A safety sweep: the debit that crosses the level raises the alert at posting time.
    "low-balance-alerts": {
        "task": "antidote.run_command",
        "schedule": 3600.0,
        "args": ["send_low_balance_alerts"],
    },
    "reconcile": {
        "task": "antidote.run_command",
        "schedule": 24 * 3600.0,
        "args": ["reconcile"],
    },
    # Lots: due lots are expired hourly (a charge expires what it meets anyway), and each lot
    # is warned once, EXPIRY_WARNING_DAYS ahead; a daily run is enough for a date in days.
    "expire-credits": {
        "task": "antidote.run_command",
        "schedule": 3600.0,
        "args": ["expire_credits"],
    },
    "warn-expiring-credits": {
        "task": "antidote.run_command",
        "schedule": 24 * 3600.0,
        "args": ["warn_expiring_credits"],
    },
}

# Notifications: text messages and clinics' webhooks.
SMS_BACKEND = env.str("SMS_BACKEND", default="console")
if SMS_BACKEND not in {"console", "msg91"}:
    raise ImproperlyConfigured(f"SMS_BACKEND must be 'console' or 'msg91', not {SMS_BACKEND!r}.")
MSG91_AUTH_KEY = env("MSG91_AUTH_KEY", default="")
if SMS_BACKEND == "msg91" and not MSG91_AUTH_KEY:
    raise ImproperlyConfigured("SMS_BACKEND is 'msg91' but MSG91_AUTH_KEY is not set.")
MSG91_API_BASE = env("MSG91_API_BASE", default="https://control.msg91.com")
MSG91_SMS_TEMPLATE_ID = env("MSG91_SMS_TEMPLATE_ID", default="")
MSG91_WHATSAPP_NUMBER = env("MSG91_WHATSAPP_NUMBER", default="")
MSG91_WHATSAPP_TEMPLATE = env("MSG91_WHATSAPP_TEMPLATE", default="antidote_alert")
NOTIFY_TIMEOUT_SECONDS = env.float("NOTIFY_TIMEOUT_SECONDS", default=10)
WEBHOOK_CONNECT_TIMEOUT_SECONDS = env.float("WEBHOOK_CONNECT_TIMEOUT_SECONDS", default=5)
WEBHOOK_READ_TIMEOUT_SECONDS = env.float("WEBHOOK_READ_TIMEOUT_SECONDS", default=10)
# Never in production: lets webhooks reach 127.0.0.1 (the tests' local receivers).
WEBHOOK_ALLOW_LOOPBACK = env.bool("WEBHOOK_ALLOW_LOOPBACK", default=False)
