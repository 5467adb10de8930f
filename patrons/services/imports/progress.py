"""Progress of a long import, written through a connection of its own: the import's work
is one transaction that nobody else can see into until it commits, but its progress bar
must move meanwhile."""

import psycopg
from django.db import connection
from django.utils import timezone

from patrons.models import ImportRun

_UPDATE = (
    f"UPDATE {ImportRun._meta.db_table} SET done = %s, total = %s, phase = %s, "
    "heartbeat_at = %s WHERE id = %s"
)
_CONNECT_KEYS = ("dbname", "host", "port", "user", "password", "sslmode")


class Progress:
    """Call `show` as work gets done (`done` of `total`: bytes of the file read, steps of
    the apply); `close` at the end."""

    def __init__(self):
        self._connection = None

    def show(self, run: ImportRun, phase: str, done: int = 0, total: int = 0) -> None:
        run.phase, run.done, run.total = phase, done, total
        self._write(run)

    def _write(self, run: ImportRun) -> None:
        if self._connection is None:
            params = connection.get_connection_params()
            wanted = {key: params[key] for key in _CONNECT_KEYS if key in params}
            self._connection = psycopg.connect(**wanted, autocommit=True)
        self._connection.execute(
            _UPDATE, (run.done, run.total, run.phase[:80], timezone.now(), run.pk)
        )

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
