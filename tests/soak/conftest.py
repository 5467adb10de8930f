"""The soak's database: pytest-django's test database, made on the soak's own embedded
PostgreSQL (.data/soak/) instead of the shared one, so that restarting it disturbs no one.

`make test` leaves tests/soak out (pyproject's --ignore); `make soak` names it."""

from pathlib import Path

import pytest

from tests.soak.database import SoakDatabase

SOAK_DIR = Path(__file__).resolve().parent
CONNECTION_KEYS = ("NAME", "USER", "PASSWORD", "HOST", "PORT")


@pytest.fixture(scope="session")
def soak_database():
    database = SoakDatabase()
    yield database
    database.stop()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(soak_database):
    """Point the default database at the soak's server before anything connects."""
    from django.conf import settings
    from django.db import connections

    assert connections["default"].connection is None, "connected before the soak's server"
    default = settings.DATABASES["default"]
    params = soak_database.settings("libstaff")
    default.update({key: params[key] for key in CONNECTION_KEYS if key in params})
    default["OPTIONS"] = {**default.get("OPTIONS", {}), **params.get("OPTIONS", {})}
    default.setdefault("TEST", {}).setdefault("NAME", "test_soak")
    assert connections["default"].settings_dict is default
    host = connections["default"].get_connection_params().get("host", "")
    assert host.startswith(str(soak_database.pgdata)), f"not the soak's server: {host}"
