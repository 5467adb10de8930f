"""Export the patron list (/staff/patrons/export/): the list page's search and filters, as
a CSV in the import's own format (patrons.csv_columns), streamed row by row."""

from collections.abc import Iterable, Iterator

from django.contrib.auth.decorators import login_required
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.http import require_safe

from libstaff import csv_stream
from patrons import csv_columns, export_selectors
from patrons.forms.search import PatronSearchForm
from patrons.views import search
from security import log, policy


@require_safe
@login_required
def patron_export(request):
    """Filters with errors get the list page with their messages (422), never a wider
    export than asked for."""
    policy.require(request.user, export_selectors.EXPORT_PERMISSION)
    form = PatronSearchForm(request.GET or None, operator=request.user)
    if form.is_bound and not form.is_valid():
        return _list_with_errors(request)
    rows = export_selectors.patron_export_rows(
        operator=request.user, query=form.query, filters=form.filters(), sort=form.ordering
    )
    log.record(log.Kind.EXPORT, operator=request.user, details={"filters": _asked(request, form)})
    response = StreamingHttpResponse(csv_lines(rows), content_type="text/csv; charset=utf-8")
    filename = f"patrons-{timezone.localdate():%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _list_with_errors(request):
    """The list page itself shows the refused filters next to their fields. (An exact hit
    of the search still opens that record, as the list does: nothing is exported.)"""
    response = search.patron_list(request)
    if response.status_code == 200:
        response.status_code = 422
    return response


def _asked(request, form: PatronSearchForm) -> dict[str, str]:
    """The search and filters as typed, for the operator log."""
    return {name: request.GET[name] for name in form.fields if request.GET.get(name)}


def csv_lines(rows: Iterable[tuple]) -> Iterator[str]:
    """The patron CSV format's header, then one line per row of values."""
    return csv_stream.csv_lines(csv_columns.HEADER, (_cells(row) for row in rows))


def _cells(row: tuple) -> list[str]:
    return [
        csv_columns.cell(value, column)
        for value, column in zip(row, csv_columns.COLUMNS, strict=True)
    ]
