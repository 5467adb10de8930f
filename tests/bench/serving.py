"""Serving a WSGI app with gunicorn on 127.0.0.1 and loading it with wrk, for the page
benchmarks (test_bench_http.py): each measured from outside, under the same configuration
(2 sync workers, persistent database connections), for a fixed and bounded time."""

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 2
WRK_SECONDS = int(os.environ.get("BENCH_WRK_SECONDS", "5"))
WRK = ["wrk", "-t2", "-c4", f"-d{WRK_SECONDS}s", "--latency", "--timeout", "10s"]


def database_url() -> str:
    """The database this process uses (the benchmark's or the soak's), as the servers'
    DATABASE_URL."""
    from django.db import connection

    db = connection.get_connection_params()
    port = f"&port={db['port']}" if db.get("port") else ""
    return f"postgresql://{db['user']}@/{db['dbname']}?host={db.get('host', '')}{port}"


def production_env() -> dict[str, str]:
    """Production settings on plain HTTP at 127.0.0.1, with persistent connections."""
    from django.conf import settings

    return {
        "DJANGO_ENV": "production",
        "SECRET_KEY": settings.SECRET_KEY,
        "DATABASE_URL": database_url(),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "CONN_MAX_AGE": "60",
    }


def collectstatic(env: dict) -> None:
    """Production serves the hashed static files (whitenoise's manifest): collect them."""
    subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT, env={**os.environ, **env}, check=True,
    )  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def gunicorn(app: str, env: dict[str, str], ready_path: str = "/"):
    """`app` ("module:callable") served on a free port until the block ends; yields the
    base URL once it answers."""
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", app,
        "--workers", str(WORKERS), "--bind", f"127.0.0.1:{port}",
        "--worker-class", "sync", "--log-level", "warning", "--timeout", "60",
    ]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env})  # noqa: S603
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(url + ready_path, server)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_for(url: str, server: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn stopped (exit {server.returncode})")
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 (127.0.0.1 only)
            return
        except urllib.error.HTTPError:
            return  # it answers (a redirect to sign in, a 404): it is up
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


@dataclass(frozen=True)
class Load:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int

    def as_dict(self) -> dict:
        return {
            "requests_per_second": round(self.requests_per_second, 1),
            "p50_ms": round(self.p50_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "non_2xx": self.non_2xx,
        }


def wrk(url: str, cookie: str = "") -> Load:
    headers = ["-H", f"Cookie: {cookie}"] if cookie else []
    done = subprocess.run(  # noqa: S603
        [*WRK, *headers, url], capture_output=True, text=True, timeout=WRK_SECONDS + 60, check=True
    )
    return parse_wrk(done.stdout)


def parse_wrk(output: str) -> Load:
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return Load(
        requests_per_second=rate,
        p50_ms=_latency(output, "50%"),
        p99_ms=_latency(output, "99%"),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
    )


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _latency(output: str, percentile: str) -> float:
    found = re.search(rf"^\s*{re.escape(percentile)}\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
    return float(found.group(1)) * _UNITS[found.group(2)]
