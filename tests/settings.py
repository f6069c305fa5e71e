"""Settings for the test suite: production settings with what a test client cannot do removed.

The test client and the live server speak plain HTTP and have no collected static files;
PBKDF2's deliberate slowness would only slow the suite. ``check --deploy`` against the real
production settings is tested separately (tests/test_deploy.py).
"""

import os
import tempfile

# The suite pays in test-payment mode unless a test points the SDK at the fake Razorpay.
os.environ["PAYMENT_MODE"] = "test"
# Tasks run in-process; the worker test (tests/notifications/test_worker.py) turns that off.
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")

from antidote.settings import *  # noqa: F403

SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# Evidence uploads go to a throwaway folder, not the checkout.
PRIVATE_MEDIA_ROOT = tempfile.mkdtemp(prefix="antidote-evidence-")
# pytest-django runs with DEBUG off; the browser tests still use the checkout stand-in.
PAYMENT_TEST_CHECKOUT_WITHOUT_DEBUG = True

# The tests' webhook receivers listen on 127.0.0.1.
WEBHOOK_ALLOW_LOOPBACK = True
