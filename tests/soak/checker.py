"""After the load, the database against the journal. Each check returns the problems it
found, as sentences; the soak passes when there are none. "Saved" in the journal is what the
answer said, never what the database holds: these checks are what holds it to account."""

from collections import Counter, defaultdict
from decimal import Decimal

from django.apps import apps
from django.db import connection
from django.db.models import Count

from fines import ledger_checks
from fines.models import FeeTransaction, MoneyRequest, Receipt
from patrons.models import Patron
from patrons.services.patron import BARCODE_UNIQUE
from tests.soak.faults import Fault
from tests.soak.operators import CONFLICT, FAILED, SAVED, UNEXPECTED, Journal


def answers(journal: Journal, fault: Fault) -> list[str]:
    """Only saved or conflict outside the fault window; nothing unexpected anywhere."""
    problems = []
    for entry in journal.entries:
        if entry.outcome == UNEXPECTED:
            problems.append(f"unexpected answer to {entry.kind}: {entry.detail}")
        elif entry.outcome == FAILED and not fault.covers(entry.started, entry.ended):
            problems.append(f"{entry.kind} failed outside the fault window: {entry.detail}")
    return problems


def edits(journal: Journal) -> list[str]:
    """Every saved edit is in the patron's history at the version it was answered with;
    no two saves got the same version (a lost update); nothing refused was written."""
    events = apps.get_model("patrons", "PatronEvent").objects
    problems, saved_versions = [], defaultdict(list)
    for entry in journal.of("edit", SAVED):
        patron, token = entry.detail["patron"], entry.detail["token"]
        saved_versions[patron].append((entry.detail["saved_version"], token))
        found = events.filter(pgh_obj_id=patron, first_name=token)
        if not found.filter(version=entry.detail["saved_version"]).exists():
            problems.append(f"saved edit {token} of patron {patron} is not in its history")
    for entry in journal.of("edit", CONFLICT):
        if events.filter(pgh_obj_id=entry.detail["patron"], first_name=entry.detail["token"]):
            problems.append(f"refused edit {entry.detail['token']} was written anyway")
    for patron, saves in saved_versions.items():
        problems += _one_save_per_version(patron, saves)
        problems += _last_save_kept(patron, max(saves))
    return problems


def _one_save_per_version(patron: int, saves: list[tuple[int, str]]) -> list[str]:
    twice = [v for v, n in Counter(v for v, _ in saves).items() if n > 1]
    return [f"patron {patron}: two saves answered with version {v}" for v in twice]


def _last_save_kept(patron: int, last: tuple[int, str]) -> list[str]:
    """The record holds the last saved value, unless a later save's answer was lost in the
    faults (then its version is higher)."""
    version, token = last
    current = Patron.objects.values("version", "first_name").get(pk=patron)
    if current["version"] < version or (
        current["version"] == version and current["first_name"] != token
    ):
        return [f"patron {patron} is {current}, the last save was {token} at {version}"]
    return []


def registrations(journal: Journal) -> list[str]:
    """Every saved registration exists with its barcode; no barcode was given twice, by
    the counter or the database; a refused one was a barcode already given."""
    problems = []
    for entry in journal.of("register", SAVED):
        d = entry.detail
        if not Patron.objects.filter(pk=d["patron"], barcode=d["barcode"]).exists():
            problems.append(f"registered {d['last_name']} ({d['barcode']}) is not in the database")
    for entry in journal.of("register", CONFLICT):
        d = entry.detail
        if not d["reused"]:
            problems.append(f"the offered barcode {d['barcode']} was refused as taken")
        if Patron.objects.filter(last_name=d["last_name"]).exists():
            problems.append(f"refused registration {d['last_name']} was written anyway")
    offered = Counter(e.detail["offered"] for e in journal.of("register") if "offered" in e.detail)
    given = Counter(e.detail["barcode"] for e in journal.of("register", SAVED))
    problems += [f"barcode {b} offered {n} times" for b, n in offered.items() if n > 1]
    problems += [f"barcode {b} registered {n} times" for b, n in given.items() if n > 1]
    return problems + _barcodes_unique_in_database()


def _barcodes_unique_in_database() -> list[str]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Patron._meta.db_table)
    problems = []
    constraint = constraints.get(BARCODE_UNIQUE, {})
    if not (constraint.get("unique") and constraint.get("columns") == ["barcode"]):
        problems.append(f"no unique constraint {BARCODE_UNIQUE} on the barcode")
    twice = (
        Patron.objects.exclude(barcode="")
        .exclude(barcode=None)
        .values("barcode")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
    )
    return problems + [f"barcode {row['barcode']} held by {row['n']} patrons" for row in twice]


def fees(journal: Journal) -> list[str]:
    """Every saved money action is recorded under its form's key, with its ledger lines;
    no refused one is; and `check_ledger` finds every summary equal to the ledger."""
    problems = []
    for entry in journal.entries:
        if entry.kind not in ("add", "pay", "waive") or entry.outcome not in (SAVED, CONFLICT):
            continue
        recorded = MoneyRequest.objects.filter(key=entry.detail["key"], action=entry.kind)
        if entry.outcome == CONFLICT and recorded.exists():
            problems.append(f"refused {entry.kind} {entry.detail['key']} was recorded")
        elif entry.outcome == SAVED:
            problems += _money_saved(entry.kind, entry.detail, recorded.first())
    report = ledger_checks.check()
    return problems + [str(difference) for difference in report.differences]


def _money_saved(kind: str, detail: dict, recorded) -> list[str]:
    if recorded is None:
        return [f"saved {kind} {detail['key']} has no record of its key"]
    lines = FeeTransaction.objects.filter(fee__patron_id=detail["patron"])
    if kind == "add":
        found = lines.filter(kind="charge", fee__comment=detail["token"], amount=detail["amount"])
        return [] if found.exists() else [f"added fee {detail['token']} has no charge line"]
    if kind == "pay":
        return _payment_lines(detail, lines)
    waived = lines.filter(kind="waive", fee_id__in=detail["fees"]).values("fee_id").distinct()
    if waived.count() != len(detail["fees"]):
        return [f"waive {detail['key']} of fees {detail['fees']} lacks waive lines"]
    return []


def _payment_lines(detail: dict, lines) -> list[str]:
    code, number = detail["receipt"].rsplit("-", 1)
    receipt = Receipt.objects.filter(site__code=code, number=int(number)).first()
    if receipt is None:
        return [f"payment {detail['key']}: receipt {detail['receipt']} is missing"]
    paid = lines.filter(kind="payment", receipt=receipt, fee_id__in=detail["fees"])
    total = sum((line.amount for line in paid), Decimal(0))
    if paid.values("fee_id").distinct().count() != len(detail["fees"]) or total != receipt.total:
        return [f"payment {detail['key']}: lines {total} do not make receipt {receipt.total}"]
    if _money(detail["amount"]) != receipt.total:
        return [f"payment {detail['key']}: answered {detail['amount']}, receipt {receipt.total}"]
    return []


def _money(text: str) -> Decimal:
    return Decimal(text.lstrip("$").replace(",", ""))
