"""Staging an import: the file's rows are typed in Python (streamed) and copied into the
staging table with COPY; everything that depends on the database (matching, duplicates,
the policy, rule 6, the contact rules, what changes) is then decided by set-based SQL in
patrons.services.imports.checks. Nothing is written to any patron."""

import io
from collections.abc import Iterable

from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.text import capfirst
from psycopg.types.json import Jsonb

from patrons.csv_columns import BY_NAME, COLUMNS
from patrons.models import ImportRow, ImportRun, PatronType
from patrons.services.imports import checks
from patrons.services.imports.progress import Progress
from patrons.services.imports.reading import FileRefused, PatronFile, Row
from security.models import SecurityGroup
from sites.models import Site

UNKNOWN_SITE = "Home site: no site has the code {code!r}."
UNKNOWN_TYPE = "Patron type: no patron type has the code {code!r}."
UNKNOWN_GROUP = "Security group: no security group is named {name!r}."
NO_KEY = "{label}: empty, and the import matches on it."
BAD_USERNAME = "Username: {message}"
PROGRESS_EVERY = 5_000
READING = "Reading the file: {rows:,} rows"
CHECKING = "Checking the rows"

# The typed columns of a staged row, in COPY order after run, line, key, errors and raw.
_STAGED = [column.attname for column in COLUMNS]
_COPY = (
    f"COPY {ImportRow._meta.db_table} (run_id, line, key, errors, raw, readable, diff, kept, "
    f"action, {', '.join(_STAGED)}) FROM STDIN"
)


class _References:
    """The codes and names a file may use, each looked up once per import."""

    def __init__(self):
        self.sites = {code.upper(): pk for pk, code in Site.objects.values_list("pk", "code")}
        self.types = {code.lower(): pk for pk, code in PatronType.objects.values_list("pk", "code")}
        self.groups = {
            name.lower(): pk for pk, name in SecurityGroup.objects.values_list("pk", "name")
        }

    def resolve(self, row: Row) -> None:
        for name, text in row.references.items():
            row.values[name] = self._lookup(name, text, row)

    def _lookup(self, name: str, text: str, row: Row) -> int | None:
        if not text:
            return None
        found = {
            "home_site": self.sites.get(text.upper()),
            "patron_type": self.types.get(text.lower()),
            "security_group": self.groups.get(text.lower()),
        }[name]
        if found is None:
            message = {"home_site": UNKNOWN_SITE, "patron_type": UNKNOWN_TYPE}.get(
                name, UNKNOWN_GROUP
            )
            row.errors.append(message.format(code=text[:40], name=text[:80]))
        return found


def stage_file(run: ImportRun, binary, *, progress: Progress) -> None:
    """Read, copy and check the file of `run`, all or nothing: a file refused part-way
    leaves no staged row. The run's status says what came of it."""
    try:
        patron_file = PatronFile(binary, match_on=run.match_on, encoding=run.encoding)
        run.encoding, run.delimiter = patron_file.encoding, patron_file.delimiter
        run.columns = patron_file.columns
        with transaction.atomic():
            _copy_rows(run, patron_file, progress, size=_size(binary))
            _analyze()
            progress.show(run, CHECKING, 1, 1)
            checks.check_rows(run)
            run.counts = checks.counts(run)
            run.deactivations = checks.deactivations(run)
    except FileRefused as refusal:
        run.status, run.file_errors = ImportRun.Status.REFUSED, [str(refusal)]
    else:
        run.status, run.staged_at = ImportRun.Status.STAGED, timezone.now()
    run.finished_at = timezone.now() if run.status == ImportRun.Status.REFUSED else None
    run.phase = ""
    run.save()


def _analyze() -> None:
    """Statistics of the staging table as it now is: without them the planner takes the
    rows just copied for none, and joins them to a million patrons the slowest way."""
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {ImportRow._meta.db_table}")


def _size(binary) -> int:
    here = binary.tell()
    size = binary.seek(0, io.SEEK_END)
    binary.seek(here)
    return size


def _copy_rows(run: ImportRun, patron_file: PatronFile, progress: Progress, *, size: int) -> None:
    references = _References()
    key_column = BY_NAME[run.match_on]
    present = set(patron_file.columns)
    rows = 0
    with connection.cursor() as cursor, cursor.copy(_COPY) as copy:
        for row in patron_file:
            references.resolve(row)
            key = _key(row, key_column)
            _check_username(row)
            copy.write_row(_staged_row(run, row, key, present))
            rows += 1
            if rows % PROGRESS_EVERY == 0:
                read = READING.format(rows=rows)
                progress.show(run, read, patron_file.bytes_read, size)


def _key(row: Row, key_column) -> str:
    value = row.values.get(key_column.name) or ""
    if not value and not row.errors:
        row.errors.append(NO_KEY.format(label=capfirst(key_column.label)))
    return value.lower() if key_column.name == "username" else value


def _check_username(row: Row) -> None:
    username = row.values.get("username")
    if username:
        try:
            UnicodeUsernameValidator()(username)
        except ValidationError as error:
            row.errors.append(BAD_USERNAME.format(message=error.messages[0]))


def _staged_row(run: ImportRun, row: Row, key: str, present: Iterable[str]) -> list:
    raw = Jsonb(row.cells) if row.errors else Jsonb([])
    values = [_staged_value(column, row, present) for column in COLUMNS]
    readable = row.readable
    return [run.pk, row.line, key[:150], row.errors, raw, readable, Jsonb({}), [], "", *values]


def _staged_value(column, row: Row, present) -> object:
    if column.name not in present:
        return None
    value = row.values.get(column.name)
    if column.name in ("barcode", "username") and not value:
        return None  # unique where given: empty is NULL, as the record tabs store it
    return value
