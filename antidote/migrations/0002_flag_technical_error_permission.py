"""Dispute reviewers may flag a lead as a technical error at the source.

They already judge whether a lead was worth its charge and approve its refund; flagging is the
same judgement made before any dispute (and refunds what a charged lead cost). Every group that
may see leads may also see their history.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "Dispute reviewers": ["flag_technical_error", "view_historicallead"],
    "Billing staff": ["view_historicallead"],
    "Read-only auditors": ["view_historicallead"],
}


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
        ("antidote", "0001_staff_groups"),
        ("leads", "0003_lead_technical_error_flag"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
