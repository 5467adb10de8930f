"""Benchmarks (`make bench`; CI does not run them). They print figures and assert nothing
about time.

BENCH_PATRONS (default 100,000) patrons are seeded once, with `manage.py seed_demo`, into a
database of their own: the test database name with "_bench" appended, so a benchmark
never touches the database of `make test`.
"""

import io
import os
import statistics
import time
from dataclasses import dataclass, field

import pytest
from django.core.management import call_command

BENCH_PATRONS = int(os.environ.get("BENCH_PATRONS", "1000000"))
BENCH_RUNS = int(os.environ.get("BENCH_RUNS", "7"))


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    from django.conf import settings

    database = settings.DATABASES["default"]
    test_settings = database.setdefault("TEST", {})
    test_name = test_settings.get("NAME") or f"test_{database['NAME']}"
    test_settings["NAME"] = f"{test_name}_bench"


@dataclass
class Report:
    """Rows of the table printed at the end of the session."""

    rows: list[tuple[str, ...]] = field(default_factory=list)

    def add(self, *cells) -> None:
        self.rows.append(tuple(str(cell) for cell in cells))

    def render(self) -> str:
        header = ("measure", "who", "result", "median", "min", "queries")
        widths = [max(len(row[i]) for row in [header, *self.rows]) for i in range(len(header))]
        return "\n".join(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            for row in [header, *self.rows]
        )


@pytest.fixture(scope="session")
def bench_report():
    report = Report()
    yield report
    print(
        f"\n\nLibStaff benchmark: {BENCH_PATRONS:,} seeded patrons; page times are the median "
        f"and minimum of {BENCH_RUNS} requests after a warm-up.\n{report.render()}\n"
    )


@dataclass(frozen=True)
class Seeding:
    patrons: int
    seconds: float
    output: str

    @property
    def rows_per_second(self) -> float:
        return self.patrons / self.seconds


@pytest.fixture(scope="session")
def seeded(django_db_setup, django_db_blocker, bench_report) -> Seeding:
    """BENCH_PATRONS patrons, committed (the command's own chunked transactions). The
    database is kept between runs (`make bench` passes --reuse-db): only the patrons it
    lacks are seeded, so a million are loaded once.

    The sites and demo accounts are made by a first run, so that the timed run measures
    loading patrons (and the idempotent checks), not six Argon2 hashes."""
    from patrons import demo
    from patrons.models import Patron

    out = io.StringIO()
    with django_db_blocker.unblock():
        call_command("seed_demo", patrons=0, stdout=io.StringIO())
        missing = (
            BENCH_PATRONS - Patron.objects.filter(barcode__startswith=demo.BARCODE_PREFIX).count()
        )
        started = time.perf_counter()
        if missing > 0:
            call_command("seed_demo", patrons=missing, stdout=out)
        seconds = time.perf_counter() - started
    seeding = Seeding(max(missing, 0), seconds, out.getvalue())
    if missing > 0:
        result, total = f"{seeding.rows_per_second:,.0f} rows/s", f"{seconds:.1f} s total"
    else:
        result, total = "kept from an earlier run", ""
    bench_report.add(f"seed_demo --patrons {BENCH_PATRONS:,}", "-", result, total, "", "")
    return seeding


def timed(function, runs: int = BENCH_RUNS) -> tuple[float, float]:
    """Median and minimum seconds of `runs` calls, after one warm-up call."""
    function()
    durations = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        durations.append(time.perf_counter() - started)
    return statistics.median(durations), min(durations)


@pytest.fixture(scope="session")
def bench_barcodes(seeded, django_db_blocker) -> dict[str, str]:
    """A seeded barcode each benchmark user may see (the last one loaded at their home site:
    the far end of the barcode index, not a cached first page)."""
    from patrons.models import Patron

    with django_db_blocker.unblock():
        barcodes = {}
        for operator in Patron.objects.filter(username__startswith="demo-"):
            barcodes[operator.username] = (
                Patron.objects.visible_to(operator)
                .filter(barcode__startswith="29999")
                .order_by("-barcode")
                .values_list("barcode", flat=True)
                .first()
            )
    return barcodes
