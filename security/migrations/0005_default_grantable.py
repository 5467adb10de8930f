from django.db import migrations

from security.defaults import mark_default_grantable


def mark(apps, schema_editor):
    mark_default_grantable(apps)


class Migration(migrations.Migration):
    dependencies = [("security", "0004_group_tree_and_operator_log")]

    operations = [migrations.RunPython(mark, migrations.RunPython.noop)]
