"""Organisations in the back office: read-only auditors see every model of our apps, so they
see organisations and their owners too; Billing staff see them (and the transfers they make
are ledger entries they already see). Creating organisations is for superusers."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW = [
    "view_organisation",
    "view_organisationmember",
    "view_historicalorganisation",
    "view_historicalorganisationmember",
]
GRANTS = {"Billing staff": VIEW[:2], "Read-only auditors": VIEW}


def grant(apps, schema_editor):
    leads = apps.get_app_config("leads")
    leads.models_module = True
    create_permissions(leads, apps=apps, verbosity=0)
    leads.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="leads", codename__in=codenames)
        )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        for group in Group.objects.filter(name=name):
            group.permissions.remove(
                *Permission.objects.filter(content_type__app_label="leads", codename__in=codenames)
            )


class Migration(migrations.Migration):
    dependencies = [
        ("antidote", "0005_credit_lot_view_permissions"),
        ("leads", "0011_organisations"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
