from django.db import migrations

PATRON_LEVEL = 5


def create_preferences(apps, schema_editor):
    Preferences = apps.get_model("security", "Preferences")
    SecurityGroup = apps.get_model("security", "SecurityGroup")
    default_group = SecurityGroup.objects.filter(level=PATRON_LEVEL).order_by("pk").first()
    Preferences.objects.get_or_create(pk=1, defaults={"default_group": default_group})


class Migration(migrations.Migration):
    dependencies = [("security", "0006_preferences")]

    operations = [migrations.RunPython(create_preferences, migrations.RunPython.noop)]
