"""Issue #18 in a real browser: every portal page at a phone's 390×844 and a laptop's 1280×800,
with no sideways scrolling, no console error and no unexpected 4xx/5xx; and the interactions
that were broken (the dispute panel far down the inbox, htmx errors with DEBUG off and on, the
status change's feedback, the collapsing menu, the message counter).

Screenshots land in tests/artifacts/ (portal-<page>-<width>.png).
"""

import pytest

from disputes import services as disputes
from leads import services as leads
from leads.models import ClinicMember
from tests.browser.conftest import ARTIFACTS
from tests.disputes.conftest import DESCRIPTION
from tests.factories import ClinicMemberFactory, PackageFactory, UserFactory, paid_order

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("seeded_tiers"),
]

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


@pytest.fixture
def watch(page):
    """Console errors and 4xx/5xx answers during the test; a test names what it expects."""
    seen = {"console": [], "responses": []}
    page.on(
        "console",
        lambda m: seen["console"].append(m.text) if m.type == "error" else None,
    )
    page.on(
        "response",
        lambda r: seen["responses"].append((r.status, r.url)) if r.status >= 400 else None,
    )
    return seen


@pytest.fixture
def world(live_server):
    owner = UserFactory(username="layout-owner", first_name="Priya", last_name="Raman")
    clinic = ClinicMemberFactory(user=owner, clinic__name="Bright Aesthetics Mumbai").clinic
    package = PackageFactory(
        clinic=clinic, name="Laser hair removal (full body)", price_paise=1_50_000_00
    )
    order = paid_order(clinic=clinic, user=owner, amount=1_00_000)
    made = [
        leads.submit_enquiry(
            clinic=clinic,
            package=package if i % 2 else None,
            name=f"Patient with a rather long name {i}",
            phone=f"98765{i:05d}",
            email=f"patient.with.a.long.address.{i}@example.com",
            message="Is Saturday possible? " * 5,
        )
        for i in range(22)
    ]
    leads.submit_enquiry(clinic=clinic, name="Repeat", phone="9876500000")  # a free duplicate
    dispute = disputes.open_dispute(
        lead=made[0],
        user=owner,
        dispute_type="invalid_contact",
        description=DESCRIPTION,
        evidence=[],
    )
    return {
        "owner": owner,
        "clinic": clinic,
        "leads": made,
        "order": order,
        "dispute": dispute,
        "package": package,
    }


def _pages(world):
    lead, order = world["leads"][-1], world["order"]
    return {
        "dashboard": "/clinic/dashboard",
        "leads": "/clinic/leads",
        "lead": f"/clinic/leads/{lead.pk}",
        "billing": "/clinic/billing-dashboard",
        "history": "/clinic/credits/history",
        "topup": "/clinic/credits/topup",
        "payments": "/clinic/payments",
        "receipt": f"/clinic/payments/{order.pk}/receipt",
        "paid": f"/payment-success?order={order.razorpay_order_id}",
        "disputes": "/clinic/disputes",
        "dispute-form": f"/clinic/disputes/create/{lead.pk}",
        "team": "/clinic/team",
        "analytics": "/clinic/analytics",
        "two-factor": "/clinic/two-factor",
        "budget": "/clinic/budget",
        "public-list": "/packages/",
        "public-package": f"/packages/{world['package'].pk}/",
        "public-clinic": f"/clinics/{world['clinic'].slug}/",
    }


@pytest.mark.parametrize("size", [PHONE, LAPTOP], ids=["390x844", "1280x800"])
def test_every_portal_page_fits_the_screen_without_errors(
    page, live_server, login, screenshot, watch, world, size
):
    page.set_viewport_size(size)
    login("layout-owner", "correct horse battery staple")
    problems = []
    for name, path in _pages(world).items():
        response = page.goto(f"{live_server.url}{path}")
        if response.status >= 400:
            problems.append(f"{name}: HTTP {response.status}")
        overflow = page.evaluate(OVERFLOW)
        if overflow > 0:
            problems.append(f"{name}: {overflow}px wider than the {size['width']}px screen")
        screenshot(f"portal-{name}-{size['width']}")
    assert problems == []
    assert watch["console"] == [] and watch["responses"] == []


def test_on_a_phone_the_menu_collapses_and_leads_are_cards(
    page, live_server, login, screenshot, world
):
    page.set_viewport_size(PHONE)
    login("layout-owner", "correct horse battery staple")
    page.goto(f"{live_server.url}/clinic/leads")
    nav = page.locator("#portal-nav")
    assert not nav.is_visible()
    page.click("[data-testid=nav-toggle]")
    assert nav.is_visible()
    assert page.evaluate(OVERFLOW) <= 0
    screenshot("portal-phone-menu-open")
    page.click("[data-testid=nav-toggle]")
    assert page.locator("table.lead-table thead").is_hidden()  # cards, not a table
    status = page.locator(f"#lead-{world['leads'][-1].pk} select[name=status]")
    box = status.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]  # the menu is on-screen
    screenshot("portal-phone-lead-cards")


def test_the_laptop_nav_marks_the_page_and_keeps_credit_history_on_one_line(
    page, live_server, login, world
):
    page.set_viewport_size(LAPTOP)
    login("layout-owner", "correct horse battery staple")
    page.goto(f"{live_server.url}/clinic/credits/history")
    current = page.locator("#portal-nav a[aria-current=page]")
    assert current.count() == 1 and current.inner_text() == "Credit history"
    lines = page.locator("#portal-nav a", has_text="Credit history").evaluate(
        "a => a.getClientRects().length"
    )
    assert lines == 1
    page.goto(f"{live_server.url}/clinic/leads/{world['leads'][3].pk}")
    assert page.locator("#portal-nav a[aria-current=page]").inner_text() == "Leads"


def test_the_dispute_panel_for_a_low_row_is_scrolled_to_and_focused(
    page, live_server, login, screenshot, world
):
    page.set_viewport_size({"width": 1280, "height": 700})
    login("layout-owner", "correct horse battery staple")
    page.goto(f"{live_server.url}/clinic/leads")
    low = page.locator("[data-testid=lead-row]").nth(19)  # the 20th row, far below the fold
    low.scroll_into_view_if_needed()
    low.locator("[data-testid=dispute-link]").click()
    panel = page.locator("#dispute-panel")
    panel.locator("#dispute-form").wait_for()
    page.wait_for_timeout(300)
    box = panel.bounding_box()
    assert -1 <= box["y"] < 700, "the panel is on screen"
    focused_inside = panel.evaluate("p => p.contains(document.activeElement)")
    assert focused_inside
    page.screenshot(path=str(ARTIFACTS / "portal-dispute-panel-low-row.png"))  # what is on screen


@pytest.mark.parametrize("debug", [False, True], ids=["DEBUG-off", "DEBUG-on"])
def test_htmx_errors_show_a_friendly_message_in_place(
    page, live_server, login, screenshot, watch, world, settings, debug
):
    settings.DEBUG = debug
    login("layout-owner", "correct horse battery staple")
    first, second = world["leads"][5], world["leads"][6]
    page.goto(f"{live_server.url}/clinic/leads")
    # 1. A second dispute on a lead disputed meanwhile: the refusal, in the panel.
    disputes.open_dispute(
        lead=first, user=world["owner"], dispute_type="spam", description=DESCRIPTION, evidence=[]
    )
    page.click(f"#lead-{first.pk} [data-testid=dispute-link]")
    refusal = page.locator("#dispute-panel [data-testid=refusal]")
    refusal.wait_for()
    assert "already has a dispute" in refusal.inner_text()
    assert page.locator("h1", has_text="Leads").is_visible()  # the page is still the inbox
    # 2. Evidence that fails the type check: the form again, with why, in the panel.
    page.click(f"#lead-{second.pk} [data-testid=dispute-link]")
    page.select_option("#id_dispute_type", "invalid_contact")
    page.fill("#id_description", DESCRIPTION)
    page.set_input_files(
        "#id_evidence", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}]
    )
    page.click("text=Open dispute")
    error = page.locator("#dispute-panel .errorlist")
    error.wait_for()
    assert "is not an image" in error.inner_text()
    screenshot(f"portal-htmx-evidence-refused-{'debug' if debug else 'nodebug'}")
    # 3. An answer htmx does not swap (403: the role changed meanwhile): a message by the row.
    ClinicMember.objects.filter(user=world["owner"]).update(role=ClinicMember.Role.BILLING)
    page.select_option(f"#lead-{second.pk} select[name=status]", "contacted")
    message = page.locator(f"#lead-{second.pk} [data-testid=htmx-error]")
    message.wait_for()
    assert "cannot do that with your role" in message.inner_text()
    assert page.locator("h1", has_text="Leads").is_visible()
    message.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / f"portal-htmx-403-{'debug' if debug else 'nodebug'}.png"))
    expected = {400, 403}
    assert all(status in expected for status, _ in watch["responses"]), watch["responses"]


def test_a_status_change_is_confirmed_in_its_row(page, live_server, login, screenshot, world):
    login("layout-owner", "correct horse battery staple")
    lead = world["leads"][4]
    page.goto(f"{live_server.url}/clinic/leads")
    page.select_option(f"#lead-{lead.pk} select[name=status]", "contacted")
    saved = page.locator(f"#lead-{lead.pk} [data-testid=status-saved]")
    saved.wait_for()
    assert saved.inner_text() == "Saved: contacted"
    screenshot("portal-status-saved")


def test_the_message_box_counts_and_warns_before_the_limit(page, live_server, screenshot, world):
    page.goto(f"{live_server.url}/packages/{world['package'].pk}/")
    count = page.locator("[data-testid=char-count]")
    assert count.inner_text() == "0 of 2,000 characters"
    page.fill("#id_message", "x" * 2100)
    assert "100 over the limit of 2,000" in count.inner_text()
    assert page.input_value("#id_message") == "x" * 2100  # nothing cut
    screenshot("portal-message-over-limit")


def test_the_admin_dispute_queue_fits_its_columns_at_1280(page, live_server, screenshot, world):
    from django.contrib.auth.models import Permission
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from antidote.management.commands.staff_totp import current_code
    from tests.factories import StaffFactory

    reviewer = StaffFactory(username="queue-reviewer")
    reviewer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_dispute", "decide_dispute"])
    )
    for lead in world["leads"][1:4]:
        disputes.open_dispute(
            lead=lead, user=world["owner"], dispute_type="poor_quality", description=DESCRIPTION
        )
    page.set_viewport_size(LAPTOP)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/disputes/dispute/")
    page.fill("#id_username", "queue-reviewer")
    page.fill("#id_password", "correct horse battery staple")
    page.fill("#id_otp_token", current_code(TOTPDevice.objects.create(user=reviewer)))
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/disputes/dispute/")
    assert page.evaluate(OVERFLOW) <= 0
    results = page.locator("#changelist .results")
    page.screenshot(path=str(ARTIFACTS / "admin-dispute-queue-1280.png"))
    assert results.evaluate("r => r.scrollWidth - r.clientWidth") <= 0, "the columns scroll"
    screenshot("admin-dispute-queue-1280")
    page.click(f"#result_list a[href$='/disputes/dispute/{world['dispute'].pk}/change/']")
    heading = page.locator("#content h1")
    assert heading.inner_text().startswith(f"Dispute #{world['dispute'].pk}: lead #")
    screenshot("admin-dispute-detail-1280")
