"""Clinic teams in the back office: every group that may see clinics may see their members,
invitations and the history of both. Writing them (through the team services) is for
superusers until the business names a group for it.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

TEAM = [
    "view_clinicmember",
    "view_historicalclinicmember",
    "view_invitation",
    "view_historicalinvitation",
]
GRANTS = {"Billing staff": TEAM, "Dispute reviewers": TEAM, "Read-only auditors": TEAM}


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
        ("antidote", "0002_flag_technical_error_permission"),
        ("leads", "0006_member_invitations"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
