from django.contrib.auth.management import create_permissions
from django.db import migrations

from fines.defaults import ensure_default_lists
from security.defaults import add_fines_defaults


def add_defaults(apps, schema_editor):
    # Permissions are normally created after all migrations (post_migrate); the default
    # groups need them now.
    app_config = apps.get_app_config("fines")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    ensure_default_lists(apps)
    add_fines_defaults(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("fines", "0001_initial"),
        ("security", "0010_most_fees_waived_at_once"),
    ]

    operations = [migrations.RunPython(add_defaults, migrations.RunPython.noop)]
