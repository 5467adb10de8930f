"""The faults injected midway: one gunicorn worker is SIGKILLed (the master respawns it)
and the soak's PostgreSQL is stopped and started again. The fault window runs from the kill
to the first page answered 200 afterwards; outside it every request must be answered."""

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from tests.soak.browser import Browser
from tests.soak.database import SoakDatabase

DOWN_SECONDS = float(os.environ.get("SOAK_DOWN_SECONDS", "3"))
RECOVERY_LIMIT = 30.0


@dataclass
class Fault:
    master: int
    killed_worker: int
    started: float  # the kill
    database_back: float  # the server accepts connections again
    recovered: float  # the first 200 from the app afterwards

    @property
    def recovery_seconds(self) -> float:
        return self.recovered - self.database_back

    def covers(self, started: float, ended: float) -> bool:
        """Whether an attempt overlaps the window in which failures are expected."""
        return started <= self.recovered and ended >= self.started


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def gunicorn_master(port: int) -> int:
    """The gunicorn started by tests.bench.serving for this port: a child of this process."""
    for pid in children(os.getpid()):
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        if "gunicorn" in command and f"127.0.0.1:{port}" in command:
            return pid
    raise RuntimeError(f"no gunicorn master serving port {port}")


def inject(master: int, database: SoakDatabase, probe: Browser, path: str) -> Fault:
    started = time.monotonic()
    worker = children(master)[0]
    os.kill(worker, signal.SIGKILL)
    database_back = database.restart(DOWN_SECONDS)
    recovered = first_answer(probe, path)
    return Fault(master, worker, started, database_back, recovered)


def first_answer(probe: Browser, path: str) -> float:
    """When the app first answers 200 again, the same gunicorn, no restart."""
    deadline = time.monotonic() + RECOVERY_LIMIT
    while time.monotonic() < deadline:
        try:
            if probe.get(path).status == 200:
                return time.monotonic()
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"the app did not answer 200 within {RECOVERY_LIMIT} s of the restart")
