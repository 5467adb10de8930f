#!/bin/sh
# Apply migrations, then run the command (gunicorn by default). Several web containers
# may start at once (--scale web=N): an advisory lock lets one migrate at a time, and the
# others then find nothing left to do. LIBSTAFF_MIGRATE=0 skips this step.
set -e

if [ "${LIBSTAFF_MIGRATE:-1}" != "0" ]; then
    python - <<'PYTHON'
import django

django.setup()

from django.core.management import call_command
from django.db import connection

MIGRATE_LOCK = 7400230002

with connection.cursor() as cursor:
    cursor.execute("SELECT pg_advisory_lock(%s)", [MIGRATE_LOCK])
    try:
        call_command("migrate", interactive=False)
    finally:
        cursor.execute("SELECT pg_advisory_unlock(%s)", [MIGRATE_LOCK])
PYTHON
fi

exec "$@"
