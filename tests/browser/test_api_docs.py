"""The REST API's interactive docs work offline under the site's CSP, and an owner's new key
is shown once and then works against the API."""

import re

import pytest

from tests.factories import ClinicFactory, ClinicMemberFactory, fund

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_docs_render_every_endpoint_without_a_csp_violation(page, live_server, screenshot):
    outside = []
    page.on(
        "request",
        lambda r: None if r.url.startswith(live_server.url) else outside.append(r.url),
    )
    page.goto(f"{live_server.url}/api/v1/docs/")
    page.wait_for_selector(".opblock-summary-path")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/v1/leads/" in p for p in paths) and any("/api/v1/balance/" in p for p in paths)
    assert outside == []  # no CDN, nothing from elsewhere
    screenshot("api-docs")


def test_an_owner_creates_a_key_and_uses_it(page, live_server, screenshot, login, seeded_tiers):
    clinic = ClinicFactory(name="Glow Skin Clinic")
    owner = ClinicMemberFactory(clinic=clinic, user__username="glow").user
    owner.set_password("correct horse battery staple")
    owner.save()
    fund(clinic, 500)
    login("glow", "correct horse battery staple")
    page.click("text=API keys")
    page.fill("#id_name", "Our CRM")
    page.select_option("#id_scope", "read")
    page.click("text=Create key")
    token = page.locator("[data-testid=new-api-key] code").inner_text()
    assert re.fullmatch(r"adk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}", token)
    screenshot("api-key-created")
    response = page.request.get(
        f"{live_server.url}/api/v1/balance/", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 200 and response.json()["balance"] == 500
    page.reload()
    assert token not in page.content()
