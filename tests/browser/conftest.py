"""Real-browser tests: Playwright driving Debian's Chromium (never a downloaded browser)."""

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
# around it are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(config, items):
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("REQUIRE_BROWSER"):
        raise pytest.UsageError(f"REQUIRE_BROWSER is set but {CHROMIUM} is missing.")
    skip = pytest.mark.skip(
        reason=f"needs Debian's Chromium at {CHROMIUM} (apt-get install chromium)"
    )
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args():
    return {
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


# Every securitypolicyviolation event, reported from the page into the test.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => window.__reportCspViolation(
  `${e.effectiveDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`
));
"""


@pytest.fixture
def csp_violations():
    """What the Content-Security-Policy blocked during the test; must end empty."""
    return []


@pytest.fixture
def page(page, csp_violations):
    """pytest-playwright's page, failing the test on any CSP violation.

    Two sources, so neither a console message nor an event alone can slip through: the
    document's securitypolicyviolation events and Chromium's console reports of them.
    Playwright's string `wait_for_function` evaluates code in the page, which the policy
    refuses: wait with `expect(locator)` instead.
    """
    page.expose_function("__reportCspViolation", lambda text: csp_violations.append(text))
    page.add_init_script(REPORT_VIOLATIONS)
    page.on(
        "console",
        lambda message: (
            csp_violations.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )
    yield page
    assert csp_violations == [], "the Content-Security-Policy blocked something"


@pytest.fixture
def screenshot(page):
    ARTIFACTS.mkdir(exist_ok=True)

    def take(name):
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def login(page, live_server):
    def log_in(username, password):
        page.goto(f"{live_server.url}/accounts/login/?next=/clinic/dashboard")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("#login-form button[type=submit]")
        page.wait_for_url("**/clinic/dashboard")

    return log_in
