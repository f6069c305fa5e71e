"""Production settings: `check --deploy` is silent with the documented variables set, and every
unsafe payment configuration either stops the app or is reported as an error."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

LIVE_KEYS = {
    "RAZORPAY_KEY_ID": "rzp_live_example",
    "RAZORPAY_KEY_SECRET": "a-live-key-secret",
    "RAZORPAY_WEBHOOK_SECRET": "a-webhook-secret",
}
GST_SUPPLIER = {
    "GST_SUPPLIER_LEGAL_NAME": "Antidote Health Private Limited",
    "GST_SUPPLIER_GSTIN": "27AABCU9603R1ZN",
    "GST_SUPPLIER_STATE_CODE": "27",
    "GST_SUPPLIER_ADDRESS": "1 Example Road, Mumbai 400001",
}
PRODUCTION = {
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "billing.antidote.example",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "CACHE_URL": "rediscache://127.0.0.1:6379/1",
    **LIVE_KEYS,
    **GST_SUPPLIER,
}


def _check_deploy(**env):
    return _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **env)


def _run(args, **env):
    # The suite runs in test-payment mode and the browser tests set DJANGO_ALLOW_ASYNC_UNSAFE
    # for this process; production has neither, nor any variable this test does not pass.
    unset = {"DEBUG", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE", "PAYMENT_MODE"}
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in unset
        and not k.startswith(("RAZORPAY_", "PAYMENT_", "CELERY_", "WEBHOOK_", "GST_", "CACHE_"))
    }
    # Explicit, so a demo's .env beside manage.py (bin/demo writes one) cannot fill them in.
    clean.update(DJANGO_SETTINGS_MODULE="antidote.settings", DEBUG="false", PAYMENT_MODE="live")
    clean.update(env)
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
    )


def test_check_deploy_reports_nothing_with_production_variables():
    result = _check_deploy(**PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_flags_the_development_secret_key():
    result = _check_deploy(**{k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"})
    assert result.returncode == 1
    assert "security.W009" in result.stderr + result.stdout


def test_without_razorpay_keys_the_app_refuses_to_start_instead_of_taking_test_payments():
    result = _check_deploy(**{k: v for k, v in PRODUCTION.items() if k not in LIVE_KEYS})
    assert result.returncode == 1
    assert "ImproperlyConfigured" in result.stderr
    assert "RAZORPAY_KEY_ID and RAZORPAY_KEY_SECRET are not both set" in result.stderr


WITHOUT_KEYS = {k: v for k, v in PRODUCTION.items() if k not in LIVE_KEYS}


def test_schema_commands_run_without_keys_but_nothing_that_serves_or_moves_money():
    # Building and checking migrations needs no Razorpay keys (CI, a developer's clone, a
    # deploy step before secrets); the web server and every other command still refuse.
    schema = _run(["manage.py", "makemigrations", "--check", "--dry-run"], **WITHOUT_KEYS)
    assert schema.returncode == 0, schema.stdout + schema.stderr
    assert "No changes detected" in schema.stdout
    for args in (
        ["-c", "import antidote.wsgi"],
        ["-c", "import antidote.asgi"],
        ["manage.py", "runserver", "--noreload", "127.0.0.1:1"],
        ["manage.py", "reconcile_payments", "--dry-run"],
    ):
        refused = _run(args, **WITHOUT_KEYS)
        assert refused.returncode != 0, args
        assert "RAZORPAY_KEY_ID and RAZORPAY_KEY_SECRET are not both set" in refused.stderr, args


def test_schema_commands_run_on_a_bare_clone_with_nothing_configured():
    # A fresh clone with no .env: no keys, no GST supplier, no broker. Checking migrations
    # still works (the supplier checks have nothing to check), and serving still refuses.
    schema = _run(["manage.py", "makemigrations", "--check", "--dry-run"])
    assert schema.returncode == 0, schema.stdout + schema.stderr
    assert "No changes detected" in schema.stdout
    refused = _run(["-c", "import antidote.wsgi"])
    assert refused.returncode != 0
    assert "ImproperlyConfigured" in refused.stderr


def test_an_unknown_payment_mode_refuses_to_start():
    result = _check_deploy(**PRODUCTION, PAYMENT_MODE="sandbox")
    assert result.returncode == 1
    assert "PAYMENT_MODE must be 'live' or 'test'" in result.stderr


def test_test_payment_mode_with_debug_off_is_a_deploy_error():
    result = _check_deploy(**PRODUCTION, PAYMENT_MODE="test")
    assert result.returncode == 1
    assert "payments.E001" in result.stderr + result.stdout


def test_the_checkout_stand_in_allowed_with_debug_off_is_a_deploy_error():
    result = _check_deploy(
        **PRODUCTION, PAYMENT_MODE="test", PAYMENT_TEST_CHECKOUT_WITHOUT_DEBUG="true"
    )
    assert result.returncode == 1
    assert "payments.E002" in result.stderr + result.stdout


def test_live_mode_without_a_webhook_secret_is_reported():
    result = _check_deploy(**{**PRODUCTION, "RAZORPAY_WEBHOOK_SECRET": ""})
    assert result.returncode == 1
    assert "payments.W001" in result.stderr + result.stdout


def test_live_mode_without_the_gst_supplier_refuses_to_start():
    without = {k: v for k, v in PRODUCTION.items() if k != "GST_SUPPLIER_GSTIN"}
    result = _check_deploy(**without)
    assert result.returncode == 1
    assert "GST_SUPPLIER_GSTIN not set" in result.stderr


def test_a_supplier_gstin_of_another_state_is_a_check_error():
    result = _check_deploy(**{**PRODUCTION, "GST_SUPPLIER_STATE_CODE": "29"})
    assert result.returncode == 1
    assert "payments.E004" in result.stderr + result.stdout
    assert "registered in Maharashtra (27), not in Karnataka (29)" in result.stderr + result.stdout


def test_a_malformed_api_throttle_rate_refuses_to_start():
    result = _check_deploy(**PRODUCTION, API_THROTTLE_PER_KEY="lots")
    assert result.returncode == 1
    assert "API_THROTTLE_PER_KEY must look like 600/min" in result.stderr
    assert _check_deploy(**PRODUCTION, API_THROTTLE_PER_USER="100/hour").returncode == 0


def test_without_a_broker_the_app_refuses_to_start_instead_of_sending_in_requests():
    without_broker = {k: v for k, v in PRODUCTION.items() if k != "CELERY_BROKER_URL"}
    result = _check_deploy(**without_broker)
    assert result.returncode == 1
    assert "ImproperlyConfigured" in result.stderr
    assert "CELERY_BROKER_URL is not set" in result.stderr
    # Building the schema still needs no broker.
    schema = _run(["manage.py", "makemigrations", "--check", "--dry-run"], **without_broker)
    assert schema.returncode == 0, schema.stdout + schema.stderr


def test_eager_tasks_with_debug_off_are_a_deploy_error():
    result = _check_deploy(**PRODUCTION, CELERY_TASK_ALWAYS_EAGER="true")
    assert result.returncode == 1
    assert "antidote.E103" in result.stderr + result.stdout


def test_webhooks_to_loopback_with_debug_off_are_a_deploy_error():
    result = _check_deploy(**PRODUCTION, WEBHOOK_ALLOW_LOOPBACK="true")
    assert result.returncode == 1
    assert "antidote.E104" in result.stderr + result.stdout


def test_a_per_process_cache_with_debug_off_is_a_deploy_error():
    for url in (None, "locmemcache://", "dummycache://"):
        env = {k: v for k, v in PRODUCTION.items() if k != "CACHE_URL"}
        result = _check_deploy(**env, **({"CACHE_URL": url} if url else {}))
        assert result.returncode == 1
        assert "antidote.E105" in result.stderr + result.stdout


def test_the_msg91_provider_without_its_key_refuses_to_start():
    result = _check_deploy(**PRODUCTION, SMS_BACKEND="msg91")
    assert result.returncode == 1
    assert "MSG91_AUTH_KEY is not set" in result.stderr


@pytest.mark.parametrize(("value", "threshold"), [(None, "1000000"), ("false", "None")])
def test_prepared_statements_can_be_turned_off_for_pgbouncer_in_transaction_mode(value, threshold):
    """pgbouncer 1.18 in transaction mode loses the posting's prepared statement between
    transactions ("prepared statement _pg3_0 does not exist", seen in bench/load's check);
    with the setting off psycopg prepares nothing, even where the posting asks it to."""
    env = {"DATABASE_URL": "postgres://app@127.0.0.1:6432/antidote", **PRODUCTION}
    if value is not None:
        env["DATABASE_PREPARED_STATEMENTS"] = value
    code = "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS'])"
    result = _run(["-c", f"import django; django.setup(); {code}"], **env)
    assert result.returncode == 0, result.stderr
    assert f"'prepare_threshold': {threshold}" in result.stdout
