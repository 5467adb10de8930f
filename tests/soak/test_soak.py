"""Load and faults (`make soak`): for SOAK_SECONDS (default 60), SOAK_OPERATORS (default 6)
simulated operators edit the same patrons, register patrons, and add, pay and waive the same
fees through HTTP against gunicorn (2 sync workers, production settings) on 127.0.0.1.
Midway one worker is SIGKILLed and the soak's PostgreSQL is restarted. Then the checker
proves from the database that every answer was true (tests/soak/checker.py)."""

import contextlib
import io
import os
import threading
import time
import uuid
from collections import Counter
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from fines import services as fines_services
from fines.models import FeeType, PaymentMethod, WaiveReason
from patrons.models import Patron
from sites.models import Site
from tests.bench import serving
from tests.conftest import SignedInClient
from tests.factories import PatronFactory
from tests.soak import checker, faults
from tests.soak.browser import Browser
from tests.soak.database import DATA_DIR
from tests.soak.operators import FAILED, Journal, Operator, Plan

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "60"))
OPERATORS = int(os.environ.get("SOAK_OPERATORS", "6"))
SEED = int(os.environ.get("SOAK_SEED", str(int(time.time()))))
OPERATOR_ACCOUNTS = ("demo-librarian", "demo-libadmin")
EDIT_PATRONS, FEE_PATRONS, FEES_EACH = 3, 2, 12
PROBE_PATH = "/staff/patrons/"
SERVER_LOG = DATA_DIR / "gunicorn.log"


@pytest.fixture(scope="session")
def world(django_db_setup, django_db_blocker) -> tuple[Plan, list[dict]]:
    """Committed rows the servers see: the demo sites and accounts, the patrons everyone
    works on, their fees; one signed-in session per operator, and one for the probe."""
    with django_db_blocker.unblock():
        call_command("seed_demo", patrons=0, stdout=io.StringIO())
        ams = Site.objects.get(code="AMS")
        accounts = [Patron.objects.get(username=name) for name in OPERATOR_ACCOUNTS]
        edited = [PatronFactory(home_site=ams, username=None).pk for _ in range(EDIT_PATRONS)]
        charged = [_patron_with_fees(accounts[0], ams) for _ in range(FEE_PATRONS)]
        plan = Plan(
            edit_patrons=edited,
            fee_patrons=charged,
            fee_type=FeeType.objects.get(code="LOST").pk,
            card=PaymentMethod.objects.get(code="CARD").pk,
            waive_reason=WaiveReason.objects.get(code="GOODWILL").pk,
        )
        sessions = [_session(accounts[n % len(accounts)]) for n in range(OPERATORS + 1)]
    return plan, sessions


def _patron_with_fees(actor: Patron, site: Site) -> int:
    patron = PatronFactory(home_site=site, username=None)
    lost = FeeType.objects.get(code="LOST")
    for number in range(FEES_EACH):
        fines_services.fee_add(
            actor=actor, patron=patron, key=uuid.uuid4(), fee_type=lost, owner_site=site,
            amount=Decimal("1.50") + number,
        )  # fmt: skip
    return patron.pk


def _session(account: Patron) -> dict[str, str]:
    """A finished sign-in (both factors), as the cookie a browser would carry."""
    client = SignedInClient()
    client.force_login(account)
    return {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}


@pytest.mark.django_db(transaction=True)  # rows committed: the servers must see them
def test_saves_survive_a_killed_worker_and_a_database_restart(world, soak_database):
    plan, sessions = world
    began = time.monotonic()
    env = serving.production_env()
    serving.collectstatic(env)
    connection.close()  # this process's own connection: the restart would cut it
    with (
        _stderr_to(SERVER_LOG),
        serving.gunicorn("libstaff.wsgi:application", env, "/accounts/login/") as url,
    ):
        master = faults.gunicorn_master(int(url.rsplit(":", 1)[1]))
        journal = Journal()
        fault = _load(url, plan, sessions, journal, soak_database, master)
        after = [Browser(url, cookies).get(PROBE_PATH).status for cookies in sessions]
        workers = faults.children(master)
    problems = [
        *checker.answers(journal, fault),
        *checker.edits(journal),
        *checker.registrations(journal),
        *checker.fees(journal),
    ]
    print(_summary(journal, fault, time.monotonic() - began))
    assert after == [200] * len(sessions), "pages after the load"
    assert fault.killed_worker not in workers and len(workers) == serving.WORKERS
    assert not problems, "\n".join(problems[:50])


@contextlib.contextmanager
def _stderr_to(path):
    """The server's log (the faults' tracebacks, every 422 refusal) into a file, not onto
    the summary: gunicorn inherits this process's stderr."""
    saved = os.dup(2)
    with path.open("w") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _load(url, plan, sessions, journal, database, master) -> faults.Fault:
    """The operators until the deadline; the faults at the halfway mark."""
    started = time.monotonic()
    deadline = started + SOAK_SECONDS
    threads = [
        threading.Thread(
            target=Operator(n, Browser(url, sessions[n]), plan, journal, SEED + n).run,
            args=(deadline,),
        )
        for n in range(OPERATORS)
    ]
    for thread in threads:
        thread.start()
    time.sleep(SOAK_SECONDS / 2)
    fault = faults.inject(master, database, Browser(url, sessions[-1]), PROBE_PATH)
    for thread in threads:
        thread.join(timeout=SOAK_SECONDS + 120)
    assert not any(thread.is_alive() for thread in threads), "an operator never finished"
    return fault


def _summary(journal: Journal, fault: faults.Fault, wall: float) -> str:
    outcomes = Counter((entry.kind, entry.outcome) for entry in journal.entries)
    kinds = sorted({kind for kind, _ in outcomes})
    rows = "\n".join(
        f"  {kind:<9} saved {outcomes[kind, 'saved']:>5}  conflict {outcomes[kind, 'conflict']:>4}"
        f"  failed during fault {outcomes[kind, FAILED]:>3}"
        f"  unexpected {outcomes[kind, 'unexpected']}"
        for kind in kinds
    )
    return (
        f"\n\nLibStaff soak: {OPERATORS} operators for {SOAK_SECONDS:.0f} s (seed {SEED}); "
        f"{journal.requests} requests, {len(journal.entries)} attempts.\n{rows}\n"
        f"  worker {fault.killed_worker} killed, PostgreSQL down {faults.DOWN_SECONDS:.1f} s; "
        f"the app answered 200 {fault.recovery_seconds:.2f} s after the database was back "
        f"(fault window {fault.recovered - fault.started:.1f} s). Wall time {wall:.0f} s.\n"
        f"  Server log: {SERVER_LOG.relative_to(serving.ROOT)}\n"
    )
