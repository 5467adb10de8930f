"""The corpus of bad files (tests/patrons/import_corpus/): each gets a clear report, and
trying to apply it writes nothing."""

from pathlib import Path

import pytest

from patrons.models import ImportRun, Patron
from tests.factories import PatronFactory
from tests.patrons.importing import apply, errors_by_line, stage

pytestmark = pytest.mark.django_db

CORPUS = Path(__file__).parent / "import_corpus"

REFUSED = {
    "empty.csv": "The file is empty.",
    "header_only.csv": "The file has a header and no rows.",
    "unknown_columns.csv": "Unknown columns: favourite_colour.",
    "missing_key_column.csv": "The file has no barcode column",
    "quote_left_open.csv": "a quote is opened and never closed",
    "not_utf8_after_start.csv": "Line 6002 is not valid UTF-8",
    "binary.csv": "This is not a text file",
}
INVALID_ROWS = {
    "missing_required_columns.csv": {2: "Last name: required."},
    "duplicate_barcodes.csv": {2: "Barcode D1 appears on lines 2, 4.", 4: "appears on lines 2, 4"},
    "makes_library_administrator.csv": {2: "Library Administrator is at or above your own level"},
    "another_site.csv": {2: "you cannot register patrons at JES"},
}


@pytest.fixture
def importer(librarian, jes):
    return librarian


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_file_that_cannot_be_read_is_refused_with_its_reason(tmp_path, importer, name):
    before = Patron.objects.count()
    run = stage(tmp_path, importer, (CORPUS / name).read_bytes())
    assert run.status == ImportRun.Status.REFUSED
    assert REFUSED[name] in run.file_errors[0]
    assert not run.rows.exists()
    assert Patron.objects.count() == before


@pytest.mark.parametrize("name", sorted(INVALID_ROWS))
def test_a_file_with_invalid_rows_is_not_applied(tmp_path, importer, name):
    before = Patron.objects.count()
    run = stage(tmp_path, importer, (CORPUS / name).read_bytes())
    assert run.status == ImportRun.Status.STAGED
    errors = errors_by_line(run)
    for line, expected in INVALID_ROWS[name].items():
        assert any(expected in error for error in errors[line]), errors
    run = apply(importer, run)
    assert "rows are invalid: nothing was applied" in run.message
    assert Patron.objects.count() == before


def test_a_ten_megabyte_line_stops_the_import_at_that_line(tmp_path, importer):
    content = b"barcode,last_name,home_site\nB1,Smith,AMS\nB2," + b"x" * 10_000_000 + b",AMS\n"
    run = stage(tmp_path, importer, content)
    assert run.status == ImportRun.Status.REFUSED
    (problem,) = run.file_errors
    assert problem.startswith("Line 3: a cell longer than 230,000 characters.")
    assert not Patron.objects.filter(barcode="B1").exists()


def test_a_long_cell_in_a_short_line_is_that_rows_error(tmp_path, importer):
    run = stage(tmp_path, importer, "barcode,last_name,home_site\nB1," + "x" * 200 + ",AMS\n")
    assert errors_by_line(run) == {2: ["Last name: at most 80 characters (200 given)."]}


def test_a_quoted_line_break_is_part_of_its_cell(tmp_path, importer, ams):
    run = stage(tmp_path, importer, (CORPUS / "quoted_newline.csv").read_bytes())
    assert run.rows.get().last_name == "Line\r\nbreak, inside"


def test_a_wrong_cell_count_is_the_rows_error(tmp_path, importer, ams):
    PatronFactory(barcode="X0", home_site=ams)
    run = stage(tmp_path, importer, "barcode,last_name,home_site\nB1,Smith\nB2,Jones,AMS,extra\n")
    errors = errors_by_line(run)
    assert errors[2] == ["has 2 cells; the header has 3."]
    assert errors[3] == ["has 4 cells; the header has 3."]


def test_repeated_columns_are_refused(tmp_path, importer):
    run = stage(tmp_path, importer, "barcode,Last Name,last_name\nB1,A,B\n")
    assert run.file_errors == ["Columns named more than once: last_name."]
