"""The pages measured from outside: gunicorn (2 sync workers, production settings,
persistent connections) on 127.0.0.1, loaded by wrk for BENCH_WRK_SECONDS each, next to
their floors served the same way: a Django hello world, and for every page a bare WSGI app
replaying that page's own SQL (tests/bench/floor_app.py). Writes tests/bench/results.json
and the table of BENCHMARKS.md. Figures only: nothing here asserts a time."""

import datetime
import json
import uuid
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patrons.models import Block, BlockType, Note, NoteType, Patron
from patrons.tabs import all_tabs
from tests.bench import serving
from tests.conftest import SignedInClient

RECORD_BARCODE = "BENCHRECORD1"
NOTES, BLOCKS, HISTORY, FEES = 50, 20, 500, 200
RESULTS = serving.ROOT / "tests" / "bench" / "results.json"
TABLE = serving.ROOT / "BENCHMARKS.md"
MARKER = "<!-- the table below is written by make bench -->"


def _record_patron(librarian) -> Patron:
    """A patron of the Librarian's school with 50 notes, 20 blocks, 500 history rows and
    200 fees: made once, kept with the seeded database."""
    found = Patron.objects.filter(barcode=RECORD_BARCODE).first()
    if found is not None:
        return found
    site = librarian.home_site
    patron = Patron.objects.create(
        barcode=RECORD_BARCODE, last_name="Record", first_name="Benchmark", home_site=site,
        security_group=Patron.objects.filter(security_group__level=5).first().security_group,
    )  # fmt: skip
    kind = NoteType.objects.first()
    Note.objects.bulk_create(
        Note(patron=patron, note_type=kind, text=f"Note {n}", owner_site=site) for n in range(NOTES)
    )
    block = BlockType.objects.first()
    Block.objects.bulk_create(
        Block(patron=patron, block_type=block, owner_site=site, note=f"Block {n}")
        for n in range(BLOCKS)
    )
    for _ in range(HISTORY):
        Patron.objects.filter(pk=patron.pk).update(version=patron.version + 1)
        patron.version += 1
    _fees(librarian, patron)
    return patron


def _fees(librarian, patron) -> None:
    from fines import services
    from fines.models import FeeType

    lost = FeeType.objects.get(code="LOST")
    for _ in range(FEES):
        services.fee_add(
            actor=librarian, patron=patron, key=uuid.uuid4(), fee_type=lost,
            owner_site=patron.home_site, amount=Decimal("3.00"),
        )  # fmt: skip


def _pages(record: Patron, barcode: str) -> list[tuple[str, str, str]]:
    """(name, user, path) of every measured page."""
    tabs = [
        (f"record tab: {tab.slug}", "demo-librarian", f"/staff/patrons/{record.pk}/{tab.slug}/")
        for tab in all_tabs()
    ]
    return [
        ("patron list", "demo-librarian", "/staff/patrons/"),
        ("search: exact barcode", "demo-librarian", f"/staff/patrons/?q={barcode}"),
        ("search: name prefix 'mil'", "demo-librarian", "/staff/patrons/?q=mil"),
        ("search: name substring 'ller'", "demo-librarian", "/staff/patrons/?q=ller"),
        ("search: two words 'jo mül'", "demo-librarian", "/staff/patrons/?q=jo+m%C3%BCl"),
        *tabs,
        ("own account /me/", "demo-patron", "/me/"),
        ("security groups", "demo-libadmin", "/staff/security/groups/"),
        ("operator log", "demo-libadmin", "/staff/security/log/"),
    ]


def _capture(client, path: str) -> tuple[int, list[str]]:
    """The page's status and its SQL, parameters in place, as the floor replays it."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    statements = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].lstrip().upper().startswith(("SELECT", "WITH"))
    ]
    return response.status_code, statements


@pytest.fixture(scope="session")
def plan(seeded, bench_barcodes, django_db_blocker, tmp_path_factory):
    """Each page with its user's session cookie and its captured SQL, committed so that
    the servers (other processes) see the same rows and sessions."""
    with django_db_blocker.unblock():
        librarian = Patron.objects.get(username="demo-librarian")
        record = _record_patron(librarian)
        clients, pages = {}, []
        measured = _pages(record, bench_barcodes["demo-librarian"])
        for number, (name, username, path) in enumerate(measured):
            if username not in clients:
                clients[username] = SignedInClient()
                clients[username].force_login(Patron.objects.get(username=username))
            client = clients[username]
            client.get(path)  # warm: the first request of a session writes to it
            status, statements = _capture(client, path)
            cookie = f"sessionid={client.cookies[settings.SESSION_COOKIE_NAME].value}"
            pages.append({
                "number": number, "name": name, "user": username, "path": path,
                "status": status, "cookie": cookie, "statements": statements,
            })  # fmt: skip
    plan_file = tmp_path_factory.mktemp("floor") / "plan.json"
    plan_file.write_text(json.dumps({_floor_path(p): p["statements"] for p in pages}))
    return pages, plan_file


def _floor_path(page: dict) -> str:
    return f"/page-{page['number']}"


@pytest.mark.django_db(transaction=False)
def test_pages_against_their_floors(plan, bench_report):
    pages, plan_file = plan
    production = serving.production_env()
    serving.collectstatic(production)
    floor_env = {
        "LIBSTAFF_FLOOR_PLAN": str(plan_file),
        "LIBSTAFF_FLOOR_DSN": serving.database_url(),
    }
    results = {"measured_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
               "wrk": " ".join(serving.WRK), "workers": serving.WORKERS, "pages": []}  # fmt: skip
    with serving.gunicorn("tests.bench.hello_app:application", {}) as hello:
        results["hello_world"] = serving.wrk(hello + "/").as_dict()
    with (
        serving.gunicorn("libstaff.wsgi:application", production, "/accounts/login/") as app,
        serving.gunicorn("tests.bench.floor_app:application", floor_env, "/none") as floor,
    ):
        for page in pages:
            ours = serving.wrk(app + page["path"], page["cookie"])
            bare = serving.wrk(floor + _floor_path(page))
            results["pages"].append(_row(page, ours, bare))
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    _write_table(results)
    for row in results["pages"]:
        bench_report.add(
            row["page"], row["user"], f"{row['libstaff']['requests_per_second']:,.0f} req/s",
            f"p50 {row['libstaff']['p50_ms']:.1f} ms", f"ratio {row['ratio']:.2f}",
            row["queries"],
        )  # fmt: skip


def _row(page: dict, ours, bare) -> dict:
    return {
        "page": page["name"],
        "user": page["user"],
        "path": page["path"],
        "status": page["status"],
        "queries": len(page["statements"]),
        "libstaff": ours.as_dict(),
        "floor": bare.as_dict(),
        "ratio": round(ours.requests_per_second / bare.requests_per_second, 3),
        "p99_ratio": round(ours.p99_ms / bare.p99_ms, 2) if bare.p99_ms else None,
    }


def _write_table(results: dict) -> None:
    """The table of BENCHMARKS.md, below its marker (the text above it is kept)."""
    hello = results["hello_world"]
    lines = [
        MARKER,
        "",
        f"Measured {results['measured_at']} with `{results['wrk']}` per page against gunicorn "
        f"({results['workers']} sync workers). Django hello world: "
        f"{hello['requests_per_second']:,.0f} req/s, p50 {hello['p50_ms']:.1f} ms.",
        "",
        "| page | user | LibStaff req/s | p50 ms | p99 ms | floor req/s | floor p99 ms "
        "| ratio | p99 ratio | queries |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["pages"]:
        ours, bare = row["libstaff"], row["floor"]
        lines.append(
            f"| {row['page']} | {row['user']} | {ours['requests_per_second']:,.0f} | "
            f"{ours['p50_ms']:.1f} | {ours['p99_ms']:.1f} | {bare['requests_per_second']:,.0f} | "
            f"{bare['p99_ms']:.1f} | {row['ratio']:.2f} | {row['p99_ratio']} | {row['queries']} |"
        )
    text = TABLE.read_text() if TABLE.exists() else MARKER
    head = text.split(MARKER)[0]
    TABLE.write_text(head + "\n".join(lines) + "\n")
