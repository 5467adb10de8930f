"""Reads of imports: an operator's own runs, the pages of a run's preview, its invalid
rows as CSV, and the fields of a record that staff changed by hand since its import."""

import datetime
from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import QuerySet
from django.http import Http404

from libstaff import csv_stream
from patrons.csv_columns import BY_NAME, COLUMNS, FLAG, cell
from patrons.models import ImportedValues, ImportRow, ImportRun, Patron, PatronType
from security.models import SecurityGroup
from sites.models import Site

ROWS_PER_PAGE = 50
MAX_LINE = 2**31 - 1
SHOWN = {
    ImportRow.Action.CREATE: "To create",
    ImportRow.Action.UPDATE: "To update",
    ImportRow.Action.UNCHANGED: "Unchanged",
    ImportRow.Action.INVALID: "Invalid",
}


def own_runs(operator) -> QuerySet:
    return ImportRun.objects.filter(operator=operator).select_related("feed")


def run_get(*, operator, run_id) -> ImportRun:
    """The operator's own run; anyone else's is not found (its file is personal data)."""
    run = own_runs(operator).filter(pk=run_id).first()
    if run is None:
        raise Http404("No import found.")
    return run


@dataclass
class ShownRow:
    line: int
    key: str
    name: str
    changes: list[tuple[str, str, str]]  # label, old, new
    kept: list[str]
    errors: list[str]
    values: list[tuple[str, str]]  # label, cell: what a new patron gets


class _Cells:
    """Staged values as the file wrote them: references by code or name again."""

    def __init__(self):
        self.references = {
            "home_site": dict(Site.objects.values_list("pk", "code")),
            "patron_type": dict(PatronType.objects.values_list("pk", "code")),
            "security_group": dict(SecurityGroup.objects.values_list("pk", "name")),
        }

    def of(self, name: str, value) -> str:
        column = BY_NAME[name]
        if name in self.references:
            return self.references[name].get(value, "") if value is not None else ""
        if column.kind == "date" and isinstance(value, str):
            return value
        return cell(value, column)


def row_page(run: ImportRun, action: str, after_line: int = 0) -> tuple[list[ShownRow], int | None]:
    """One page of the run's rows of `action`, after a line; and the next page's line."""
    rows = list(
        run.rows.filter(action=action, line__gt=min(after_line, MAX_LINE)).order_by("line")[
            : ROWS_PER_PAGE + 1
        ]
    )
    more = len(rows) > ROWS_PER_PAGE
    rows = rows[:ROWS_PER_PAGE]
    cells = _Cells()
    shown = [_shown(run, row, cells) for row in rows]
    return shown, rows[-1].line if more else None


def _shown(run: ImportRun, row: ImportRow, cells: _Cells) -> ShownRow:
    changes = [
        (_label(name), cells.of(name, old), cells.of(name, new))
        for name, (old, new) in row.diff.items()
    ]
    values = []
    if row.action == ImportRow.Action.CREATE:
        values = [
            (_label(name), cells.of(name, getattr(row, BY_NAME[name].attname)))
            for name in run.columns
        ]
    name = " ".join(filter(None, [row.first_name, row.last_name]))
    return ShownRow(
        line=row.line,
        key=row.key,
        name=name,
        changes=changes,
        kept=[_label(name) for name in row.kept],
        errors=row.errors,
        values=values,
    )


def _label(name: str) -> str:
    return BY_NAME[name].label.capitalize()


def invalid_rows_csv(run: ImportRun) -> Iterator[str]:
    """Every invalid row: its line, its reasons and its cells, streamed. Rows the file
    itself got wrong keep their cells as read; the others are written from their values."""
    cells = _Cells()
    attnames = [BY_NAME[name].attname for name in run.columns]
    invalid = run.rows.filter(action=ImportRow.Action.INVALID).order_by("line")
    fields = ["line", "errors", "raw", *attnames]

    def rows():
        for row in invalid.values_list(*fields, named=True).iterator(chunk_size=2000):
            if row.raw:
                values = [str(value) for value in row.raw]
            else:
                pairs = zip(run.columns, attnames, strict=True)
                values = [cells.of(name, getattr(row, attname)) for name, attname in pairs]
            yield [str(row.line), " ".join(row.errors), *values]

    return csv_stream.csv_lines(["line", "reasons", *run.columns], rows())


@dataclass
class ChangedByHand:
    name: str
    label: str
    imported: str  # the import's value, as the file wrote it
    feed: str


def changed_by_hand(patron: Patron) -> list[ChangedByHand]:
    """The fields of an imported record whose value is not what its import last wrote:
    the next import leaves them alone (one query, none for a record never imported)."""
    if patron.import_feed_id is None:
        return []
    imported = ImportedValues.objects.select_related("feed").filter(patron=patron).first()
    if imported is None:
        return []
    cells, found = None, []
    for column in COLUMNS:
        if column.attname not in imported.values:
            continue
        stored = as_stored(imported.values[column.attname])
        if as_stored(getattr(patron, column.attname)) == stored:
            continue
        cells = cells or _Cells()
        shown = cells.of(column.name, _reference_id(column, stored))
        found.append(ChangedByHand(column.name, _label(column.name), shown, imported.feed.name))
    return found


def _reference_id(column, stored):
    if column.name in ("home_site", "patron_type", "security_group"):
        return int(stored) if stored is not None else None
    if column.kind == FLAG:
        return stored == "true"
    return stored


def as_stored(value) -> str | None:
    """A field's value, or an imported one (JSON), as PostgreSQL writes it as text: as the
    import compares them."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)
