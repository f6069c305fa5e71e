"""The OpenAPI schema: complete (no spectacular warnings), valid, served, and documented locally."""

import re

import pytest
import yaml
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client
from drf_spectacular.management.commands.spectacular import SchemaGenerationError

pytestmark = pytest.mark.django_db


def test_the_schema_generates_without_a_single_warning(tmp_path):
    """``--fail-on-warn``: a missing type, an unknown field or a guessed name fails here."""
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    assert schema["openapi"].startswith("3.")
    for path, operations in schema["paths"].items():
        assert path.startswith("/api/v1/")
        for method, operation in operations.items():
            success = [code for code in operation["responses"] if code.startswith("2")]
            assert success, (path, method)
            for code in success:
                # 204 (a delete) is the one success without a body; every other has one.
                has_body = bool(operation["responses"][code].get("content"))
                assert has_body == (code != "204"), (path, method, code)
            for code in ("400", "401", "429"):
                media = operation["responses"][code]["content"]
                assert "application/problem+json" in media, (path, method, code)
            # Actions on one object (cancel, roll-secret, send-test) take no body.
            bodiless = path.endswith(("/cancel/", "/roll-secret/", "/send-test/"))
            if method in ("post", "patch") and not bodiless:
                assert operation["requestBody"]["content"], (path, method)
            assert operation["security"] == [{"ApiKey": []}]


def test_the_warning_check_can_fail(tmp_path):
    """An endpoint whose response type spectacular must guess makes the check above fail."""
    with pytest.raises(SchemaGenerationError):
        call_command(
            "spectacular",
            "--fail-on-warn",
            "--urlconf",
            "tests.api.untyped_urls",
            "--file",
            str(tmp_path / "schema.yaml"),
        )


def test_the_schema_is_served_at_api_v1_schema():
    response = Client().get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/v1/leads/", "/api/v1/balance/", "/api/v1/disputes/{id}/cancel/"} <= set(paths)
    # The portal's session JSON is not part of the public API.
    assert not any(p.startswith("/clinic/") for p in paths)


def test_the_docs_load_only_local_assets_under_the_sites_csp():
    response = Client().get("/api/v1/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "<script>" not in page and "<style>" not in page  # nothing inline for the CSP
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and all(a.startswith("/") for a in assets), assets
    for asset in assets:
        if asset.startswith("/static/"):
            assert finders.find(asset.removeprefix("/static/")), asset
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "http" not in csp
    script = Client().get("/api/v1/docs/?script=")
    assert script.status_code == 200
    assert "/api/v1/schema/" in script.content.decode()
