from django.contrib.auth.management import create_permissions
from django.db import migrations

from security.defaults import add_staff_group_givers


def give(apps, schema_editor):
    # Permissions are normally created after all migrations (post_migrate).
    app_config = apps.get_app_config("security")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    add_staff_group_givers(apps)


class Migration(migrations.Migration):
    dependencies = [("security", "0011_group_delegations_and_narrowing_grants")]

    operations = [migrations.RunPython(give, migrations.RunPython.noop)]
