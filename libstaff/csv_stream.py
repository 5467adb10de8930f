"""CSV for downloads: written a line at a time (a StreamingHttpResponse holds nothing in
memory), with a BOM so that spreadsheets read UTF-8, and cells a spreadsheet would run as a
formula made plain text."""

import csv
from collections.abc import Iterable, Iterator

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    """A cell that a spreadsheet would run as a formula, quoted as text."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def unquoted_cell(value: str) -> str:
    """`safe_cell` undone, for a file that comes back (the patron import)."""
    if value.startswith("'") and value[1:2] and value[1:2] in FORMULA_STARTS:
        return value[1:]
    return value


class _Echo:
    """csv.writer writes here and gets the line back, to stream it."""

    def write(self, line: str) -> str:
        return line


def csv_lines(header: list[str], rows: Iterable[Iterable[str]]) -> Iterator[str]:
    """The header (after the BOM), then each row, every cell made safe."""
    writer = csv.writer(_Echo())
    yield BOM + writer.writerow(header)
    for row in rows:
        yield writer.writerow([safe_cell(cell) for cell in row])
