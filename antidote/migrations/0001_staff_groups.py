"""The back office's staff groups. Superusers need none of them.

Permissions are normally created after all migrations (post_migrate); they are created here
first so a fresh database gets complete groups in one `migrate`.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

OUR_APPS = ["leads", "billing", "payments", "disputes"]
GROUPS = {
    "Billing staff": [
        "leads.view_clinic",
        "leads.view_lead",
        "leads.view_package",
        "billing.view_creditaccount",
        "billing.change_creditaccount",
        "billing.adjust_credits",
        "billing.view_historicalcreditaccount",
        "billing.view_credittransaction",
        "billing.view_pricingtier",
        "billing.add_pricingtier",
        "billing.change_pricingtier",
        "billing.view_historicalpricingtier",
        "billing.view_reconciliationrun",
        "payments.view_creditpackage",
        "payments.add_creditpackage",
        "payments.change_creditpackage",
        "payments.view_historicalcreditpackage",
        "payments.view_promocode",
        "payments.add_promocode",
        "payments.change_promocode",
        "payments.view_historicalpromocode",
        "payments.view_paymentorder",
        "payments.view_paymentevent",
        "payments.view_webhookevent",
    ],
    "Dispute reviewers": [
        "disputes.view_dispute",
        "disputes.decide_dispute",
        "disputes.view_evidence",
        "disputes.view_disputeevent",
        "leads.view_lead",
        "leads.view_clinic",
        "billing.view_credittransaction",
    ],
    # Read-only auditors: every view permission of our apps, added below.
    "Read-only auditors": [],
}


def create_groups(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codes in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        if codes:
            wanted = [code.split(".") for code in codes]
            permissions = [
                Permission.objects.get(content_type__app_label=app, codename=codename)
                for app, codename in wanted
            ]
        else:
            permissions = Permission.objects.filter(
                content_type__app_label__in=OUR_APPS, codename__startswith="view_"
            )
        group.permissions.set(permissions)


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("leads", "0002_lead_technical_error"),
        ("billing", "0004_reconciliationrun_alter_creditaccount_options_and_more"),
        ("payments", "0003_historicalcreditpackage_historicalpromocode"),
        ("disputes", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
