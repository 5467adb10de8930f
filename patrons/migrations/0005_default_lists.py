from django.db import migrations

NOTE_TYPES = [
    ("general", "General"),
    ("circulation", "Circulation"),
    ("contact", "Contact details"),
    ("library", "Library use"),
]
BLOCK_TYPES = [
    ("overdue", "Overdue items"),
    ("fees", "Unpaid fees"),
    ("lost_card", "Lost card"),
    ("conduct", "Conduct"),
    ("admin", "Administrative"),
]
IDENTIFIER_TYPES = [
    ("student_id", "Student ID"),
    ("staff_id", "Staff ID"),
    ("national_id", "National library card"),
    ("previous_barcode", "Previous barcode"),
    ("other", "Other"),
]


def create_lists(apps, schema_editor):
    for model_name, entries in [
        ("NoteType", NOTE_TYPES),
        ("BlockType", BLOCK_TYPES),
        ("IdentifierType", IDENTIFIER_TYPES),
    ]:
        model = apps.get_model("patrons", model_name)
        for code, name in entries:
            model.objects.get_or_create(code=code, defaults={"name": name})


class Migration(migrations.Migration):
    dependencies = [("patrons", "0004_records")]

    operations = [migrations.RunPython(create_lists, migrations.RunPython.noop)]
