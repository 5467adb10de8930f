"""The import of IMPORT_ROWS rows (half updates of seeded patrons, half new ones) next to
the floor of this machine, measured in the same run on the same table:

- floor: COPY of the same rows into a staging table, then one INSERT ... ON CONFLICT DO
  UPDATE into patrons_patron (its history triggers fire, as for the import), with the
  foreign keys checked as rows arrive (SET CONSTRAINTS ALL IMMEDIATE), and once more with
  them deferred to the commit, to show why the import sets them immediate;
- LibStaff: staging (read, COPY, set-based checks) and applying the validated run.

Each is rolled back, so every measure starts from the same table. Python's peak memory
while staging is measured too (tracemalloc): it stays flat as the file grows."""

import csv
import os
import time
import tracemalloc

import pytest
from django.db import connection, transaction

from patrons.models import ImportRun, Patron
from patrons.services import imports

IMPORT_ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "100000"))
# The deferred floor turns quadratic: it is measured on a tenth of the rows, and on twice
# that, to show the growth without waiting minutes.
DEFERRED_ROWS = IMPORT_ROWS // 10
HEADER = ["barcode", "last_name", "first_name", "home_site", "email", "birth_date"]


@pytest.fixture
def roll(seeded, tmp_path):
    """A CSV file: IMPORT_ROWS // 2 seeded patrons with a new first name, and as many new."""
    updates = IMPORT_ROWS // 2
    existing = list(
        Patron.objects.filter(barcode__startswith="29999", security_group__level=5)
        .order_by("barcode")
        .values_list("barcode", "last_name", "home_site__code")[:updates]
    )
    site = existing[0][2]
    path = tmp_path / "roll.csv"
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        for barcode, last_name, code in existing:
            writer.writerow([barcode, last_name, "Renamed", code, "", ""])
        for number in range(IMPORT_ROWS - len(existing)):
            writer.writerow([f"N{number:09d}", "Newcomer", "Nia", site, "", "2012-05-06"])
    return path


def _floor(path, *, immediate: bool, rows: int | None = None) -> float:
    """COPY + one upsert of the file's rows (the first `rows` of them), rolled back."""
    group = Patron.objects.filter(security_group__level=5).values_list("security_group", flat=True)[
        0
    ]
    actor = Patron.objects.get(username="demo-district").pk
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        if immediate:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "CREATE TEMP TABLE floor_rows (barcode text, last_name text, first_name text, "
            "home_site text, email text, birth_date text) ON COMMIT DROP"
        )
        with (
            open(path, "rb") as file,
            cursor.copy("COPY floor_rows FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
        ):
            while chunk := file.read(1 << 20):
                copy.write(chunk)
        cursor.execute(
            "INSERT INTO patrons_patron (password, created_at, updated_at, title, first_name, "
            "middle_name, last_name, preferred_first_name, preferred_last_name, birth_date, "
            "gender, barcode, admin_system_id, cohort, form_class, home_site_id, status, "
            "is_generic, is_staff_member, is_protected, photo, email, communication_channel, "
            "language, security_group_id, must_change_password, version, source, "
            "created_by_id, updated_by_id) "
            "SELECT '!', now(), now(), '', COALESCE(f.first_name, ''), '', f.last_name, '', '', "
            "f.birth_date::date, '', f.barcode, '', '', '', s.id, 'active', "
            "false, false, false, '', COALESCE(f.email, ''), 'mail', 'en', %s, false, 1, "
            "'import', %s, %s "
            "FROM (SELECT * FROM floor_rows LIMIT %s) f JOIN sites_site s ON s.code = f.home_site "
            "ON CONFLICT (barcode) DO UPDATE SET first_name = EXCLUDED.first_name, "
            "version = patrons_patron.version + 1, updated_at = EXCLUDED.updated_at",
            [group, actor, actor, rows],
        )
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    return seconds


def _import(path) -> tuple[float, float, float, dict]:
    """Staging and applying the file as demo-district, rolled back; and the peak of
    Python's memory while staging."""
    actor = Patron.objects.get(username="demo-district")
    with transaction.atomic():
        run = imports.import_start(
            actor=actor, feed_name="Bench roll", match_on="barcode", file_name=path.name
        )
        tracemalloc.start()
        started = time.perf_counter()
        imports.import_stage(run.pk, str(path))
        staged = time.perf_counter() - started
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        run.refresh_from_db()
        assert run.status == ImportRun.Status.STAGED, run.file_errors
        imports.import_begin_apply(
            actor=actor, run=run, valid_only=False, confirm_deactivation=False
        )
        started = time.perf_counter()
        run = imports.import_apply(run.pk)
        applied = time.perf_counter() - started
        assert run.status == ImportRun.Status.APPLIED, run.message
        transaction.set_rollback(True)
    return staged, applied, peak, run.counts


@pytest.mark.django_db
def test_import_against_the_floor(roll, bench_report):
    floor = _floor(roll, immediate=True)
    deferred = {
        n: _floor(roll, immediate=False, rows=n) for n in (DEFERRED_ROWS, 2 * DEFERRED_ROWS)
    }
    staged, applied, peak, counts = _import(roll)
    rows = f"{IMPORT_ROWS:,} rows"
    rate = lambda seconds: f"{IMPORT_ROWS / seconds:,.0f} rows/s"  # noqa: E731
    bench_report.add(
        "floor: COPY + upsert (immediate FKs)", rows, rate(floor), f"{floor:.2f} s", "", ""
    )
    for count, seconds in deferred.items():
        bench_report.add(
            "floor: COPY + upsert (deferred FKs)",
            f"{count:,} of the rows",
            f"{count / seconds:,.0f} rows/s",
            f"{seconds:.2f} s",
            "",
            "",
        )
    bench_report.add(
        "import: staging (read, COPY, checks)",
        rows,
        rate(staged),
        f"{staged:.2f} s",
        f"peak {peak / 2**20:.1f} MiB",
        "",
    )
    bench_report.add(
        "import: apply",
        f"{counts['created']:,} new, {counts['updated']:,} updated",
        rate(applied),
        f"{applied:.2f} s",
        f"{applied / floor:.2f} x floor",
        "",
    )


@pytest.mark.django_db
def test_export_of_every_patron(seeded, bench_report):
    """The whole seeded table through the export's own selector and writer, as the
    response streams it: rows per second and Python's peak memory."""
    from patrons import export_selectors
    from patrons.views.export import csv_lines

    actor = Patron.objects.get(username="demo-district")
    tracemalloc.start()
    started = time.perf_counter()
    lines = sum(1 for _line in csv_lines(export_selectors.patron_export_rows(operator=actor)))
    seconds = time.perf_counter() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    bench_report.add(
        "export: every patron, streamed",
        f"{lines - 1:,} rows",
        f"{(lines - 1) / seconds:,.0f} rows/s",
        f"{seconds:.2f} s",
        f"peak {peak / 2**20:.1f} MiB",
        "",
    )
