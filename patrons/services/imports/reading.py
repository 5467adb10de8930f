"""Reading an import file: its encoding, delimiter and header, then one typed row at a time
(streamed: a file of any size is read in constant memory). Problems with the file itself
raise FileRefused; problems with a row are that row's errors."""

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.utils.text import capfirst

from libstaff import csv_stream
from patrons import csv_columns
from patrons.csv_columns import COLUMNS, REFERENCE

SAMPLE_BYTES = 64 * 1024
DELIMITERS = ",;\t|"
# No column of ours holds more than a few hundred characters; a longer field is a broken
# file (a quote left open swallows the lines after it), said at the line it starts on.
FIELD_LIMIT = 10_000
ENCODINGS = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 with BOM",
    "utf-16": "UTF-16",
    "cp1252": "Windows-1252",
    "latin-1": "Latin-1 (ISO-8859-1)",
}

EMPTY_FILE = "The file is empty."
ONLY_HEADER = "The file has a header and no rows."
NOT_TEXT = "This is not a text file: save the list as CSV and try again."
NOT_UTF8 = (
    "Line {line} is not valid UTF-8, though the start of the file is: choose the file's "
    "encoding (Windows-1252 or Latin-1) and try again."
)
UNKNOWN_COLUMNS = "Unknown columns: {columns}. The columns are: {known}."
REPEATED_COLUMNS = "Columns named more than once: {columns}."
MISSING_KEY = "The file has no {key} column, and the import matches on it."
CANNOT_DECODE = "Line {line} cannot be read as {encoding}: choose the file's encoding."
BROKEN_CSV = "Line {line}: {problem}. Check for a quote left open, then try again."
FIELD_TOO_LONG = "a cell longer than {limit:,} characters"
CELL_COUNT = "has {got} cells; the header has {expected}."


class FileRefused(Exception):
    """The file cannot be read as a patron list; nothing is staged."""


@dataclass
class Row:
    line: int
    cells: list[str]
    readable: bool = True
    values: dict = field(default_factory=dict)
    references: dict = field(default_factory=dict)  # column -> the cell's text
    errors: list[str] = field(default_factory=list)


def detect_encoding(sample: bytes) -> str:
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        # Windows-1252 leaves five bytes undefined; Latin-1 reads any byte.
        try:
            sample.decode("cp1252")
        except UnicodeDecodeError:
            return "latin-1"
        return "cp1252"
    return "utf-8"


def detect_delimiter(header_line: str) -> str:
    counts = {delimiter: header_line.count(delimiter) for delimiter in DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


class PatronFile:
    """An open import file: `.columns` from its header, then iterate for its rows."""

    def __init__(self, binary: io.BufferedIOBase, *, match_on: str, encoding: str = ""):
        sample = binary.read(SAMPLE_BYTES)
        if not sample.strip():
            raise FileRefused(EMPTY_FILE)
        if b"\x00" in sample and not sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise FileRefused(NOT_TEXT)
        binary.seek(0)
        self.encoding = encoding or detect_encoding(sample)
        self.line = 0  # the physical line last read
        self._binary = binary
        self._lines = self._decoded_lines(binary)
        header_line = self._read_header_line()
        self.delimiter = detect_delimiter(header_line)
        self.columns = self._columns(header_line, match_on)

    def _decoded_lines(self, binary) -> Iterator[str]:
        """The file's lines as text, one at a time: a byte the encoding cannot read is
        reported at its own line; a line longer than any row could be stops the import
        there, in bounded memory (a 10 MB line, or a quote never closed)."""
        limit = FIELD_LIMIT * len(COLUMNS)
        if self.encoding == "utf-16":  # its line breaks are two bytes: let io find them
            source = io.TextIOWrapper(binary, encoding=self.encoding, newline="")
            read, decode = (lambda: source.readline(limit + 1)), (lambda text: text)
        else:
            decoder = codecs.getincrementaldecoder(self.encoding)()
            read, decode = (lambda: binary.readline(limit + 1)), decoder.decode
        while True:
            try:
                line = decode(read())
            except UnicodeDecodeError:
                raise FileRefused(_undecodable(self.line + 1, self.encoding)) from None
            if not line:
                return
            self.line += 1
            if len(line) > limit:
                raise FileRefused(_broken(self.line, FIELD_TOO_LONG.format(limit=limit)))
            if "\x00" in line:
                raise FileRefused(NOT_TEXT)
            yield line

    @property
    def bytes_read(self) -> int:
        return self._binary.tell()

    def _read_header_line(self) -> str:
        return next(self._lines, "")

    def _columns(self, header_line: str, match_on: str) -> list[str]:
        cells = next(csv.reader([header_line], delimiter=self.delimiter), [])
        names = [csv_columns.header_key(cell) for cell in cells]
        unknown = [
            cell for cell, name in zip(cells, names, strict=True) if name not in csv_columns.BY_NAME
        ]
        if unknown:
            known = ", ".join(csv_columns.HEADER)
            raise FileRefused(UNKNOWN_COLUMNS.format(columns=", ".join(unknown), known=known))
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise FileRefused(REPEATED_COLUMNS.format(columns=", ".join(repeated)))
        if match_on not in names:
            raise FileRefused(MISSING_KEY.format(key=match_on))
        return names

    def __iter__(self) -> Iterator[Row]:
        reader = csv.reader(self._lines, delimiter=self.delimiter, strict=True)
        seen_any = False
        while True:
            start = self.line + 1
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as problem:
                raise FileRefused(_broken(start, _said(problem))) from None
            if not any(cell.strip() for cell in cells):
                continue  # blank lines, a spreadsheet's trailing empty rows
            seen_any = True
            yield self._row(start, cells)
        if not seen_any:
            raise FileRefused(ONLY_HEADER)

    def _row(self, line: int, cells: list[str]) -> Row:
        row = Row(line=line, cells=cells)
        if len(cells) != len(self.columns):
            row.errors.append(CELL_COUNT.format(got=len(cells), expected=len(self.columns)))
            row.readable = False
            return row
        for name, text in zip(self.columns, cells, strict=True):
            column = csv_columns.BY_NAME[name]
            text = csv_stream.unquoted_cell(text)
            if column.kind == REFERENCE:
                row.references[name] = text.strip()
                continue
            try:
                row.values[name] = column.parse(text)
            except ValidationError as error:
                row.errors.append(f"{capfirst(column.label)}: {error.messages[0]}")
        return row


def _broken(line: int, problem: str) -> str:
    return BROKEN_CSV.format(line=line, problem=problem)


def _undecodable(line: int, encoding: str) -> str:
    if line == 1:
        return NOT_TEXT
    if encoding.startswith("utf-8"):
        return NOT_UTF8.format(line=line)
    return CANNOT_DECODE.format(line=line, encoding=ENCODINGS.get(encoding, encoding))


def _said(problem: Exception) -> str:
    text = str(problem)
    if "field larger than field limit" in text:
        return FIELD_TOO_LONG.format(limit=csv.field_size_limit())
    if "unexpected end of data" in text or "EOF" in text:
        return "a quote is opened and never closed"
    return text
