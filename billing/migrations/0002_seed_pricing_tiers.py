"""The six lead-price tiers of the business plan (package price in paise → credits)."""

from django.db import migrations

TIERS = [
    (0, 100, "Basic treatments (< ₹5,000)"),
    (5_000_00, 180, "Standard procedures (₹5,000–9,999.99)"),
    (10_000_00, 250, "Mid-range treatments (₹10,000–19,999.99)"),
    (20_000_00, 320, "Premium procedures (₹20,000–49,999.99)"),
    (50_000_00, 400, "High-value treatments (₹50,000–99,999.99)"),
    (100_000_00, 500, "Luxury procedures (≥ ₹1,00,000)"),
]


def seed(apps, schema_editor):
    PricingTier = apps.get_model("billing", "PricingTier")
    for min_price_paise, credits, label in TIERS:
        PricingTier.objects.update_or_create(
            min_price_paise=min_price_paise, defaults={"credits": credits, "label": label}
        )


def unseed(apps, schema_editor):
    PricingTier = apps.get_model("billing", "PricingTier")
    PricingTier.objects.filter(min_price_paise__in=[t[0] for t in TIERS]).delete()


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
