"""The Celery app and beat: every scheduled task exists, and every periodic command it runs is a
real command; nothing outside that list can be run through the task."""

import pytest
from django.conf import settings
from django.core.management import get_commands

from antidote import tasks
from antidote.celery import app


def test_every_beat_entry_names_a_registered_task_and_a_real_command():
    app.loader.import_default_modules()
    commands = get_commands()
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, name
        if entry["task"] == "antidote.run_command":
            command = entry["args"][0]
            assert command in tasks.PERIODIC_COMMANDS and command in commands, name


def test_beat_runs_every_periodic_command_and_the_sweeps():
    scheduled = {
        entry["args"][0] if entry["task"] == "antidote.run_command" else entry["task"]
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }
    assert scheduled == {
        *tasks.PERIODIC_COMMANDS,
        "notifications.sweep_outbox",
        "payments.sweep_auto_topups",
    }


def test_the_command_task_refuses_anything_not_periodic():
    with pytest.raises(ValueError, match="not a periodic command"):
        tasks.run_command("flush", "--noinput")


@pytest.mark.django_db
def test_the_command_task_runs_a_command_and_returns_its_output():
    assert "held lead(s)" in tasks.run_command("release_held_leads", "--dry-run")
