"""The five credit packages of the business plan; bonus credits are posted separately."""

from django.db import migrations

# name, price in rupees, paid credits, bonus credits
PACKAGES = [
    ("Starter", 1_000, 1_000, 0),
    ("Growth", 5_000, 5_000, 500),
    ("Pro", 10_000, 10_000, 1_500),
    ("Premium", 25_000, 25_000, 5_000),
    ("Enterprise", 50_000, 50_000, 12_500),
]


def seed(apps, schema_editor):
    CreditPackage = apps.get_model("payments", "CreditPackage")
    for order, (name, rupees, credits, bonus) in enumerate(PACKAGES):
        CreditPackage.objects.update_or_create(
            price_paise=rupees * 100,
            defaults={
                "name": name,
                "credits": credits,
                "bonus_credits": bonus,
                "sort_order": order,
            },
        )


def unseed(apps, schema_editor):
    CreditPackage = apps.get_model("payments", "CreditPackage")
    CreditPackage.objects.filter(price_paise__in=[p[1] * 100 for p in PACKAGES]).delete()


class Migration(migrations.Migration):
    dependencies = [("payments", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
