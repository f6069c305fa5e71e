"""Demo clinics, packages, leads and credits for the README's run command. Safe to run twice.

It runs only with DEBUG on, in test-payment mode, and only on a database that holds nothing
but what it made itself, so a misconfigured production never gets a demo superuser, fake
paid orders or a real user made owner of demo clinics. The demo's own rows are recognised
by this rule (``foreign_data``), checked before anything is written:

- users: only the demo logins (``staff`` and the clinic logins below), each still with the
  README's password (``staff`` a superuser, the others not staff), with no other clinics;
- clinics: only the demo slugs, each with its ``<slug>@example.com`` address, and members
  only as listed in ``MEMBERS``;
- promo codes: only 002's samples ``SAVE20``, ``FLAT500``, ``BONUS100`` and ``WELCOME10``;
- payments: orders only of demo clinics and only in test mode (``order_test_…`` ids, so a
  top-up tried in the demo is the demo's own), events only of such orders, no webhook events
  (the demo never receives any).

Leads, ledger entries and disputes hang off clinics, so the clinic rule covers them.
"""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone

from antidote.logs import logged_command
from antidote.management.commands.staff_totp import enrol
from billing import services as billing
from billing.models import CreditAccount, PricingTier
from billing.selectors import account_balance
from disputes import services as disputes
from leads import services as leads
from leads.models import Clinic, ClinicMember, Lead, Package
from payments import services as payments
from payments.gateway import TestModeGateway, test_payment_mode
from payments.models import (
    ClinicTaxDetails,
    PaymentEvent,
    PaymentOrder,
    PromoCode,
    WebhookEvent,
)

PASSWORD = "demo-pass-2026"
STAFF = ("staff", "staff-pass-2026")

# GST state codes of the demo cities that have topped up: the place of supply. Lotus Derma
# (Delhi) has not, so its first top-up page asks for its billing state.
DEMO_STATES = {"Mumbai": "27", "Pune": "27", "Bengaluru": "29"}

# slug, name, city, credits bought, low-balance threshold, packages (name, price in rupees)
CLINICS = [
    (
        "glow-skin-mumbai",
        "Glow Skin Clinic",
        "Mumbai",
        20_000,
        500,
        [("Chemical peel", 3_500), ("Hydrafacial", 7_500), ("Laser hair removal", 15_000)],
    ),
    (
        "bright-aesthetics-bengaluru",
        "Bright Aesthetics",
        "Bengaluru",
        5_500,
        500,
        [("Botox full face", 35_000), ("FUE hair transplant", 75_000), ("Liposuction", 1_50_000)],
    ),
    ("radiance-pune", "Radiance Clinic", "Pune", 1_000, 1_200, [("Skin consultation", 1_500)]),
    ("lotus-derma-delhi", "Lotus Derma", "Delhi", 0, 500, [("Acne scar laser", 12_000)]),
]
# demo user -> clinics it belongs to (glow also helps at Radiance, to show clinic switching)
MEMBERS = {
    "glow": ["glow-skin-mumbai", "radiance-pune"],
    "bright": ["bright-aesthetics-bengaluru"],
    "radiance": ["radiance-pune"],
    "lotus": ["lotus-derma-delhi"],
    "glow-desk": ["glow-skin-mumbai"],
    "glow-billing": ["glow-skin-mumbai"],
}
# Everyone else is an owner: these two show what the front desk and billing roles see.
ROLES = {"glow-desk": ClinicMember.Role.FRONT_DESK, "glow-billing": ClinicMember.Role.BILLING}
PATIENTS = [
    ("Asha Patel", "98200 11111", Lead.Status.NEW),
    ("Rahul Mehta", "+91 98200 22222", Lead.Status.CONTACTED),
    ("Priya Nair", "098200 33333", Lead.Status.BOOKED),
    ("Vikram Rao", "919820044444", Lead.Status.TREATED),
    ("Neha Singh", "9820055555", Lead.Status.LOST),
]

# Each demo outcome is reached the way a front desk would, so the timelines show real steps.
DEMO_STEPS = {
    Lead.Status.CONTACTED: ["contacted"],
    Lead.Status.BOOKED: ["contacted", "booked"],
    Lead.Status.TREATED: ["contacted", "booked", "treated"],
    Lead.Status.LOST: ["contacted", "lost"],
}

DEMO_SLUGS = {clinic[0] for clinic in CLINICS}
# 002's sample codes with their stated meaning, and the demo's welcome code.
DEMO_PROMOS = {
    "SAVE20": {"description": "20% off", "discount_value": 20},
    "FLAT500": {
        "description": "₹500 off",
        "discount_type": "fixed",
        "discount_value": 500_00,
        "min_amount_paise": 1_000_00,
    },
    "BONUS100": {
        "description": "10% bonus credits",
        "discount_value": 0,
        "bonus_percent": 10,
    },
    "WELCOME10": {
        "description": "10% off up to ₹1,000, plus 100 bonus credits",
        "discount_value": 10,
        "max_discount_paise": 1_000_00,
        "bonus_credits": 100,
        "max_uses_per_clinic": 1,
    },
}


def foreign_data() -> list[str]:
    """What in this database the demo did not create (the rule in the module docstring)."""
    found = []
    User = get_user_model()
    for user in User.objects.order_by("pk"):
        if user.username == STAFF[0]:
            ours = user.is_superuser and check_password(STAFF[1], user.password)
        else:
            ours = (
                user.username in MEMBERS
                and not (user.is_staff or user.is_superuser)
                and user.email == f"{user.username}@example.com"
                and check_password(PASSWORD, user.password)
            )
        if not ours:
            found.append(f"user {user.username!r}")
    for clinic in Clinic.objects.order_by("pk"):
        if clinic.slug not in DEMO_SLUGS or clinic.contact_email != f"{clinic.slug}@example.com":
            found.append(f"clinic {clinic.slug!r}")
    members = ClinicMember.objects.values_list("user__username", "clinic__slug").order_by("pk")
    for username, slug in members:
        if slug not in MEMBERS.get(username, ()):
            found.append(f"user {username!r} as a member of {slug!r}")
    for code in PromoCode.objects.exclude(code__in=DEMO_PROMOS).values_list("code", flat=True):
        found.append(f"promo code {code!r}")
    live_orders = PaymentOrder.objects.exclude(clinic__slug__in=DEMO_SLUGS) | (
        PaymentOrder.objects.exclude(razorpay_order_id__startswith="order_test_").exclude(
            razorpay_order_id=None
        )
    )
    for pk in live_orders.values_list("pk", flat=True).order_by("pk"):
        found.append(f"payment order #{pk}")
    if PaymentEvent.objects.filter(order=None).exists():
        found.append("payment events without a demo order")
    if WebhookEvent.objects.exists():
        found.append(f"{WebhookEvent.objects.count()} webhook event(s) from Razorpay")
    return found


@logged_command
class Command(BaseCommand):
    help = (
        "Load demo clinics in several cities, packages in all six price tiers, leads in every "
        "status (held ones for lack of credits), paid top-ups with receipts, a promo code and "
        "ledger history, and print the logins. Running it again changes nothing."
    )

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError(
                "Demo data is for a local demo only and needs DEBUG on (bin/demo sets "
                "DEBUG=true); this runs with DEBUG off, so nothing was written."
            )
        # Demo top-ups are "paid" by the test gateway: credits from nothing, so never in live mode.
        if not test_payment_mode():
            raise CommandError(
                "Demo data pays its top-ups in test-payment mode; set PAYMENT_MODE=test. "
                "It never runs against live Razorpay keys."
            )
        # Demo leads would otherwise print a dozen notification emails to the console.
        quiet = override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend")
        with quiet, transaction.atomic():
            # Checked inside the transaction that writes, so nothing slips in between.
            foreign = foreign_data()
            if foreign:
                shown = "; ".join(foreign[:10]) + ("; …" if len(foreign) > 10 else "")
                raise CommandError(
                    "This database holds data the demo did not create, so demo data is not "
                    f"loaded and nothing was written: {shown}. Use an empty database."
                )
            self._load()
        self._print_logins()

    def _load(self):
        User = get_user_model()
        staff, created = User.objects.get_or_create(
            username=STAFF[0], defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            staff.set_password(STAFF[1])
            staff.save()
        enrol(staff)  # the admin asks for its TOTP code: see _print_logins
        for slug, name, city, credits, threshold, packages in CLINICS:
            clinic, _ = Clinic.objects.get_or_create(
                slug=slug,
                defaults={"name": name, "city": city, "contact_email": f"{slug}@example.com"},
            )
            billing.update_account_settings(
                account=CreditAccount.objects.get(clinic=clinic), low_balance_threshold=threshold
            )
            for package_name, rupees in packages:
                Package.objects.get_or_create(
                    clinic=clinic, name=package_name, defaults={"price_paise": rupees * 100}
                )
            if city in DEMO_STATES and not ClinicTaxDetails.objects.filter(clinic=clinic).exists():
                # Glow is GST-registered (a B2B invoice, made-up GSTIN); the others are not.
                payments.save_tax_details(
                    clinic=clinic,
                    legal_name=f"{name} Pvt Ltd" if slug == "glow-skin-mumbai" else "",
                    address=f"Demo address, {city}",
                    state_code=DEMO_STATES[city],
                    gstin="27AAACG1234G1Z2" if slug == "glow-skin-mumbai" else "",
                )
            if credits >= 1_000 and not clinic.payment_orders.exists():
                self._paid_top_up(clinic, rupees=credits)
            if credits:
                billing.grant_credits(
                    clinic=clinic,
                    credits=credits // 10,
                    kind="bonus",
                    idempotency_key=f"demo:bonus:{slug}",
                    memo="Welcome bonus",
                )
            if not clinic.leads.exists():
                self._enquiries(clinic, staff)
        for code, fields in DEMO_PROMOS.items():
            PromoCode.objects.get_or_create(code=code, defaults=fields)
        for username, slugs in MEMBERS.items():
            user, created = User.objects.get_or_create(
                username=username, defaults={"email": f"{username}@example.com"}
            )
            if created:
                user.set_password(PASSWORD)
                user.save()
            for slug in slugs:
                ClinicMember.objects.get_or_create(
                    user=user,
                    clinic=Clinic.objects.get(slug=slug),
                    defaults={"role": ROLES.get(username, ClinicMember.Role.OWNER)},
                )

    def _paid_top_up(self, clinic, *, rupees):
        """A top-up through the real order and settlement services, paid in test mode."""
        quote = payments.quote_topup(clinic=clinic, amount=rupees)
        order = payments.create_order(clinic=clinic, user=None, quote=quote)
        payment_id = TestModeGateway.payment_id_for(order.razorpay_order_id)
        payments.settle_paid_order(order=order, payment_id=payment_id, source="demo data")

    def _enquiries(self, clinic, staff):
        packages = list(clinic.packages.order_by("price_paise"))
        patients = PATIENTS if clinic.slug != "radiance-pune" else PATIENTS[:1]
        for i, (name, phone, status) in enumerate(patients):
            lead = leads.submit_enquiry(
                clinic=clinic,
                package=packages[i % len(packages)],
                name=name,
                phone=phone,
                message="I would like to know more about this treatment.",
            )
            if lead.billing_state == Lead.Billing.CHARGED and status != Lead.Status.NEW:
                for step in DEMO_STEPS[status]:
                    leads.update_lead_status(
                        lead=lead,
                        status=step,
                        booked_for=timezone.localdate() + timedelta(days=3),
                        revenue_paise=4_500_000 if step == Lead.Status.TREATED else None,
                        lost_reason="price" if step == Lead.Status.LOST else "",
                    )
        if clinic.slug == "glow-skin-mumbai":
            # The same patient again within 30 days: recorded as a duplicate, not charged.
            leads.submit_enquiry(
                clinic=clinic, package=packages[0], name="Asha Patel", phone="9820011111"
            )
            lost = clinic.leads.get(status=Lead.Status.LOST)
            disputes.open_dispute(
                lead=lost,
                user=None,
                dispute_type="invalid_contact",
                description="The number rings out; we tried five times over two days.",
            )
            billing.adjust_credits(
                clinic=clinic,
                credits=-50,
                actor=staff,
                reason="Demo: correcting a test top-up",
                idempotency_key="demo:adjust:glow",
            )
            # A weekly cap with room for a cheap lead only: the dearest package's next enquiry
            # waits over budget (contact masked) until the week rolls over or the cap is raised.
            account = CreditAccount.objects.get(clinic=clinic)
            week_spent, _ = account.spent_at(timezone.now())
            billing.set_budget(
                account=account,
                actor=staff,
                weekly_cap=week_spent + PricingTier.objects.order_by("credits")[0].credits,
                monthly_cap=None,
                paused=False,
                reason="Demo: a weekly cap",
            )
            leads.submit_enquiry(
                clinic=clinic, package=packages[-1], name="Kiran Das", phone="9820066666"
            )

    def _print_logins(self):
        self.stdout.write(self.style.SUCCESS("\nDemo data ready. Logins:"))
        self.stdout.write(f"  Staff (Django admin, /admin/):  {STAFF[0]} / {STAFF[1]}")
        self.stdout.write(
            "    plus the code of its authenticator: add the seed below to an authenticator "
            f"app, or run `python manage.py staff_totp {STAFF[0]} --code` (DEBUG only)."
        )
        call_command("staff_totp", STAFF[0], stdout=self.stdout)
        self.stdout.write(
            f"  Top-ups run in test-payment mode; promo codes {', '.join(DEMO_PROMOS)} are active."
        )
        for username, slugs in MEMBERS.items():
            balances = ", ".join(
                f"{clinic.name}: {account_balance(clinic=clinic):,} credits"
                for clinic in Clinic.objects.filter(slug__in=slugs)
            )
            role = ROLES.get(username, ClinicMember.Role.OWNER).label.lower()
            self.stdout.write(
                f"  Clinic portal (/clinic/dashboard): {username} / {PASSWORD}  "
                f"({role}; {balances})"
            )
