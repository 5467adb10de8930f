from django.db import migrations

STATISTICAL_CATEGORIES = [
    ("resident", "Resident"),
    ("non_resident", "Non-resident"),
    ("school", "School"),
]
PROGRAMS = [
    ("summer_reading", "Summer reading"),
    ("homebound", "Homebound delivery"),
]


def create_lists(apps, schema_editor):
    for model_name, entries in [
        ("StatisticalCategory", STATISTICAL_CATEGORIES),
        ("Program", PROGRAMS),
    ]:
        model = apps.get_model("patrons", model_name)
        for code, name in entries:
            model.objects.get_or_create(code=code, defaults={"name": name})


class Migration(migrations.Migration):
    dependencies = [("patrons", "0009_statistical_categories_and_programs")]

    operations = [migrations.RunPython(create_lists, migrations.RunPython.noop)]
