"""Issue 17 in a real browser: the analytics page with its charts at a laptop's width and a
phone's 390 px (no sideways scroll, the charts drawn from the tables, no CSP violation), and
the inbox's one-tap outcomes.

Screenshots land in tests/artifacts/ (analytics-<width>.png, inbox-outcome-<step>.png).
"""

import re
from datetime import date

import pytest
from playwright.sync_api import expect

from leads import services
from leads.models import Lead
from tests.factories import ClinicMemberFactory, PackageFactory, UserFactory, fund

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("seeded_tiers"),
]

PASSWORD = "correct horse battery staple"
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


@pytest.fixture
def owner():
    user = UserFactory(username="roi-owner")
    clinic = ClinicMemberFactory(user=user, clinic__name="Glow Skin Clinic").clinic
    package = PackageFactory(clinic=clinic, name="Laser facial", price_paise=750_000)
    fund(clinic, 5_000)
    for i in range(6):
        lead = services.submit_enquiry(
            clinic=clinic,
            package=package if i % 2 else None,
            name=f"P{i}",
            phone=f"90000000{i:02d}",
        )
        if i < 4:
            services.update_lead_status(lead=lead, status="contacted", actor=user)
        if i in (1, 3):
            services.update_lead_status(
                lead=lead, status="booked", actor=user, booked_for=date(2026, 5, 4)
            )
        if i == 3:
            services.update_lead_status(
                lead=lead, status="treated", actor=user, revenue_paise=4_500_000
            )
    return user


@pytest.mark.parametrize("size", [PHONE, LAPTOP], ids=["390", "1280"])
def test_the_analytics_page_fits_and_draws_its_charts(
    page, live_server, login, screenshot, owner, size
):
    page.set_viewport_size(size)
    login(owner.username, PASSWORD)
    response = page.goto(f"{live_server.url}/clinic/analytics")
    assert response.status == 200
    expect(page.locator('[data-testid="return-on-spend"]')).to_have_text("53.57×")  # ₹45,000 / ₹840
    drawn = page.evaluate("['spend-chart', 'funnel-chart'].map((id) => !!Chart.getChart(id))")
    assert drawn == [True, True]
    for canvas in ("#spend-chart", "#funnel-chart"):
        box = page.locator(canvas).bounding_box()
        assert box["width"] > 250 and box["height"] >= 200
        assert box["x"] >= 0 and box["x"] + box["width"] <= size["width"]
    assert page.evaluate(OVERFLOW) <= 0
    # Chart.js draws its labels in the page's font at 13 px: readable on a phone.
    assert page.evaluate("Chart.defaults.font.size") >= 12
    expect(page.locator('[data-testid="month-table"] tfoot')).to_contain_text("₹840")
    page.locator(".charts").scroll_into_view_if_needed()
    screenshot(f"analytics-{size['width']}")


# htmx marks what it is still requesting, swapping or settling.
BUSY = ".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added"


def test_one_tap_outcomes_in_the_inbox(page, live_server, login, screenshot):
    user = UserFactory(username="tap-owner")
    clinic = ClinicMemberFactory(user=user).clinic
    fund(clinic, 1_000)
    lead = services.submit_enquiry(clinic=clinic, name="Asha Patel", phone="9000000001")

    login(user.username, PASSWORD)
    page.goto(f"{live_server.url}/clinic/leads")
    page.evaluate("window.__notReloaded = true")
    row = page.locator(f"#lead-{lead.pk}")
    expect(row.locator('[data-testid="call-link"]')).to_have_attribute("href", "tel:+919000000001")
    expect(row.locator('[data-testid="whatsapp-link"]')).to_have_attribute(
        "href", re.compile(r"^https://wa\.me/919000000001\?text=Hello\+Asha\+Patel%2C\+this\+is")
    )
    row.locator('[data-testid="mark-contacted"]').click()
    expect(page.locator(f'#lead-{lead.pk} [data-testid="status-saved"]')).to_contain_text(
        "contacted"
    )
    # The swapped row's controls answer only once htmx has processed and settled it.
    expect(page.locator(BUSY)).to_have_count(0)
    row = page.locator(f"#lead-{lead.pk}")
    row.locator('[data-testid="status-select"]').select_option("booked")
    expect(page.locator(f"#lead-{lead.pk} .row-error")).to_contain_text("appointment date")
    expect(page.locator(BUSY)).to_have_count(0)
    row = page.locator(f"#lead-{lead.pk}")
    expect(row.locator('[data-testid="booked-for"]')).to_be_visible()
    row.locator('[data-testid="booked-for"]').fill("2026-05-04")
    # No screenshot here: Playwright's leaves style="" on inputs, which htmx's settle then
    # copies onto the swapped row, and the CSP (rightly) refuses.
    row.locator('[data-testid="save-outcome"]').click()
    expect(page.locator(f'#lead-{lead.pk} [data-testid="status-saved"]')).to_contain_text(
        "appointment booked"
    )
    assert page.evaluate("window.__notReloaded") is True
    lead.refresh_from_db()
    assert (lead.status, lead.booked_for) == (Lead.Status.BOOKED, date(2026, 5, 4))
    screenshot("inbox-outcome-booked")
