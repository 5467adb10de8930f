"""The patron export (/staff/patrons/export/): the list page's matches, as rows of the
patron CSV format (patrons.csv_columns), read in chunks from a server-side cursor.

The matches are those of the list page (`patron_search`: its scope, search and filters),
narrowed to the sites where the operator holds patrons.export_patrons (an explicit grant
may give it at one site only). Rows are tuples of plain values, references already their
code or name through joins: one query however many patrons, memory flat however many rows.
"""

from collections.abc import Iterator

from django.db.models import QuerySet

from patrons import csv_columns
from patrons.selectors import DEFAULT_SORT, SORTS, PatronFilters, patron_matches
from security import policy
from sites.models import Site

EXPORT_PERMISSION = "patrons.export_patrons"
EXPORT_CHUNK = 2000


def patron_export_rows(
    *, operator, query: str = "", filters: PatronFilters | None = None, sort: str = DEFAULT_SORT
) -> Iterator[tuple]:
    """One tuple per patron, the values of csv_columns.COLUMNS in order, in the list's order."""
    matches, _exact_ids = patron_matches(operator=operator, query=query, filters=filters)
    matches = _exportable(operator, matches)
    rows = matches.order_by(*_ordering(sort)).values_list(*_column_paths())
    return rows.iterator(chunk_size=EXPORT_CHUNK)


def _exportable(operator, patrons: QuerySet) -> QuerySet:
    """Only patrons of sites where the operator may export (their view scope already holds)."""
    if policy.site_scope_ids(operator) is None:  # District Administrators: every site
        return patrons
    return patrons.filter(home_site__in=policy.scope(operator, EXPORT_PERMISSION, Site))


def _column_paths() -> list[str]:
    """The lookup of each column: a reference by the field the CSV names it with."""
    return [
        f"{column.name}__{csv_columns.REFERENCE_KEYS[column.name]}"
        if column.kind == csv_columns.REFERENCE
        else column.name
        for column in csv_columns.COLUMNS
    ]


def _ordering(sort: str) -> list:
    descending = sort.startswith("-")
    key = SORTS.get(sort.lstrip("-"), SORTS[DEFAULT_SORT])
    return [expression.desc() if descending else expression.asc() for expression in key.expressions]
