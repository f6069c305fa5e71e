"""The site runs under its Content-Security-Policy, and the browser tests notice a violation."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_injected_inline_script_is_blocked_and_reported(page, live_server, csp_violations):
    page.goto(f"{live_server.url}/accounts/login/")
    page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.__inlineRan = true";
          document.body.append(script);
        }"""
    )
    page.wait_for_timeout(200)
    assert page.evaluate("window.__inlineRan") is None
    assert any("script-src" in v for v in csp_violations), csp_violations
    csp_violations.clear()  # seen: the page fixture's own check would fail the test otherwise


def test_pages_load_their_styles_and_scripts_without_violations(page, live_server):
    for path in ("/", "/accounts/login/", "/accounts/password_reset/", "/admin/login/"):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("load")
    # htmx is loaded from our own origin and configured by its meta tag.
    page.goto(f"{live_server.url}/")
    assert page.evaluate("window.htmx.config.includeIndicatorStyles") is False


def test_staff_log_in_with_their_totp_code_and_see_the_dashboard(page, live_server, screenshot):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from antidote.management.commands.staff_totp import current_code
    from tests.factories import StaffFactory

    staff = StaffFactory(username="boss", is_superuser=True)
    staff.set_password("correct horse battery staple")
    staff.save()
    device = TOTPDevice.objects.create(user=staff, name="phone")
    page.goto(f"{live_server.url}/admin/")
    page.wait_for_url("**/admin/login/**")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "correct horse battery staple")
    page.fill("#id_otp_token", current_code(device))
    screenshot("admin-login-totp")
    page.click("input[type=submit]")
    page.wait_for_selector("#backoffice-dashboard")
    # backoffice.css applies (the dashboard's former inline styles).
    width = page.evaluate(
        "getComputedStyle(document.querySelector('#backoffice-dashboard')).marginBottom"
    )
    assert width == "20px"
    screenshot("admin-dashboard")
