"""The next-barcode counter (a PostgreSQL sequence: no lock, no lost update between two
registrations) and an index for the duplicate check at registration (same birth date and
last name, case-insensitive), which otherwise scans every patron."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("patrons", "0005_default_lists")]

    operations = [
        migrations.RunSQL(
            "CREATE SEQUENCE IF NOT EXISTS patrons_barcode_seq START 1",
            "DROP SEQUENCE IF EXISTS patrons_barcode_seq",
        ),
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS patron_duplicate_check "
            "ON patrons_patron (birth_date, lower(last_name))",
            "DROP INDEX IF EXISTS patron_duplicate_check",
        ),
    ]
