from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.vary import vary_on_headers

from libstaff import paging
from patrons import selectors
from patrons.forms.search import PatronSearchForm
from security import policy

LIST_TEMPLATE = "patrons/patron_list.html"
NO_MATCH = "No patrons match “{query}”."
NO_MATCH_FILTERS = "No patrons match these filters."


@dataclass(frozen=True)
class Column:
    label: str
    sort: str | None = None  # a key of selectors.SORTS
    numeric: bool = False


COLUMNS = [
    Column("Name", "name"),
    Column("Barcode", "barcode"),
    Column("Security group"),
    Column("Home site", "site"),
    Column("Status"),
    Column("Expires", "expiry"),
    Column("Blocks", numeric=True),
    Column("Notes", numeric=True),
    Column("Balance", numeric=True),  # net: fees owed less credit (negative: a credit)
]


@login_required
@vary_on_headers("HX-Request")
def patron_list(request):
    """Search and list patrons. One exact hit (a scanned barcode, a username...) opens the
    record; htmx requests made while typing get the results only, and never jump away."""
    policy.require(request.user, "patrons.view_patron")
    form = PatronSearchForm(request.GET or None, operator=request.user)
    form.is_valid()  # a refused filter is left out of the search and shown with its error
    page = selectors.patron_search(
        operator=request.user,
        query=form.query,
        filters=form.filters(),
        sort=form.ordering,
        after=request.GET.get("after", ""),
        before=request.GET.get("before", ""),
    )
    partial = request.htmx and not request.htmx.history_restore_request
    if page.exact_hit is not None and not partial:
        return redirect("patrons:record", pk=page.exact_hit.pk)
    context = {
        "form": form,
        "page": page,
        "count_label": count_label(page),
        "today": timezone.localdate(),
        "columns": _columns(form.ordering),
        "sort": form.ordering,
        "no_match": NO_MATCH.format(query=form.query) if form.query else NO_MATCH_FILTERS,
        "searching": bool(form.query) or form.is_filtered,
        "can_register": request.user.has_perm("patrons.add_patron"),
    }
    if not partial:
        return render(request, LIST_TEMPLATE, context)
    response = render(request, LIST_TEMPLATE + "#results", context)
    return paging.push_set_parameters(response, request, defaults={"sort": selectors.DEFAULT_SORT})


def count_label(page: selectors.PatronPage) -> str:
    if page.count_is_bounded:
        return f"More than {selectors.COUNT_LIMIT:,} patrons"
    return f"{page.count:,} patron{'' if page.count == 1 else 's'}"


def _columns(sort: str) -> list[dict]:
    """Each header with the sort its link asks for: ascending first, then the reverse."""
    headers = []
    for column in COLUMNS:
        header = {"column": column, "current": None, "link": None}
        if column.sort is not None:
            if sort.lstrip("-") == column.sort:
                header["current"] = "descending" if sort.startswith("-") else "ascending"
            header["link"] = f"-{column.sort}" if sort == column.sort else column.sort
        headers.append(header)
    return headers
