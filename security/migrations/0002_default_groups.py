from django.contrib.auth.management import create_permissions
from django.db import migrations

from security.defaults import ensure_default_groups


def create_default_groups(apps, schema_editor):
    # Permissions are normally created after all migrations (post_migrate); the default
    # groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    ensure_default_groups(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("security", "0001_initial"),
        ("sites", "0001_initial"),
        ("patrons", "0003_search_extensions"),
    ]

    operations = [migrations.RunPython(create_default_groups, migrations.RunPython.noop)]
