"""`manage.py collectstatic` with a manifest storage, as the README's "Running in production"
runs it (whitenoise's adds compression, which is slow here): every file a static file names,
a source map too, must exist."""

from django.core.management import call_command


def test_collectstatic_succeeds_with_the_production_manifest_storage(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }
    call_command("collectstatic", "--noinput", verbosity=0)
    assert (tmp_path / "staticfiles.json").exists()
