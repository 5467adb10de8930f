from django.contrib.postgres.operations import TrigramExtension, UnaccentExtension
from django.db import migrations


class Migration(migrations.Migration):
    """Name search (case- and accent-insensitive, prefix and substring) needs these."""

    dependencies = [("patrons", "0002_initial")]

    operations = [TrigramExtension(), UnaccentExtension()]
