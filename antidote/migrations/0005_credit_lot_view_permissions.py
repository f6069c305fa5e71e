"""Credit lots in the back office: every group that may see the ledger may see lots (and so
the finance report). Extending a lot's expiry needs billing.adjust_credits as well, which only
Billing staff hold."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

LOTS = ["view_creditlot"]
GRANTS = {"Billing staff": LOTS, "Dispute reviewers": LOTS, "Read-only auditors": LOTS}


def grant(apps, schema_editor):
    billing = apps.get_app_config("billing")
    billing.models_module = True
    create_permissions(billing, apps=apps, verbosity=0)
    billing.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="billing", codename__in=codenames)
        )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        for group in Group.objects.filter(name=name):
            group.permissions.remove(
                *Permission.objects.filter(
                    content_type__app_label="billing", codename__in=codenames
                )
            )


class Migration(migrations.Migration):
    dependencies = [
        ("antidote", "0004_api_keys_and_idempotency"),
        ("billing", "0007_charge_function_and_lots_from_balances"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
