"""The operator log (/staff/security/log/): who did what, when, to whom, from where; and
its CSV export. Both read through security.selectors, within the reader's scope."""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.apps import apps
from django.contrib.auth.decorators import login_required
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import capfirst
from django.views.decorators.http import require_safe
from django.views.decorators.vary import vary_on_headers

from libstaff import csv_stream, paging
from security import log, policy, selectors
from security.forms.log import OperatorLogFilterForm
from security.models import OperatorAction

LOG_TEMPLATE = "security/operator_log.html"
NO_ENTRIES = "No entries match these filters."
NO_CHANGES = "No changes"
CSV_HEADER = ["When", "Operator", "Action", "Patron", "Object", "Site", "IP address", "Details"]
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).

_PATRON_TYPE = "patrons.patron"
_KEY_ORDER = {"changes": 0, "rows": 1}
_ROW_KINDS = {
    "emails": "Emails",
    "addresses": "Addresses",
    "phones": "Phones",
    "guardians": "Contacts",
}


@dataclass(frozen=True)
class LogRow:
    entry: OperatorAction
    patron: str  # "Name (barcode)"; the name kept in the entry when the patron is deleted
    patron_url: str | None  # the record, when the reader may view it
    patron_deleted: bool
    object: str  # what else was acted on (a site, a group...)
    summary: str


@require_safe  # the log is read here, never written
@login_required
@vary_on_headers("HX-Request")
def operator_log(request):
    policy.require(request.user, selectors.LOG_PERMISSION)
    return _page(request, OperatorLogFilterForm(request.GET or None))


@require_safe
@login_required
def operator_log_export(request):
    """The filtered range as CSV, streamed row by row from a server-side cursor. Filters
    with errors get the page with their messages rather than a wider export than asked."""
    policy.require(request.user, selectors.LOG_PERMISSION)
    form = OperatorLogFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return _page(request, form, status=422)
    entries = selectors.operator_action_export(operator=request.user, filters=form.filters())
    response = StreamingHttpResponse(csv_lines(entries), content_type="text/csv; charset=utf-8")
    filename = f"operator-log-{timezone.localdate():%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _page(request, form: OperatorLogFilterForm, status: int = 200):
    page = selectors.operator_action_page(
        operator=request.user,
        filters=form.filters(),
        after=request.GET.get("after", ""),
        before=request.GET.get("before", ""),
    )
    context = {
        "form": form,
        "page": page,
        "rows": [log_row(entry, request.user) for entry in page.rows],
        "filtered": form.is_filtered,
        "no_entries": NO_ENTRIES,
    }
    if not (request.htmx and not request.htmx.history_restore_request):
        return render(request, LOG_TEMPLATE, context, status=status)
    response = render(request, LOG_TEMPLATE + "#results", context, status=status)
    return paging.push_set_parameters(response, request)


# --- presenting an entry ------------------------------------------------------------------


def log_row(entry: OperatorAction, reader) -> LogRow:
    """An entry as the page shows it. Needs no query: the patron comes with the entry
    (select_related) and the policy's answers about the reader are cached."""
    patron = entry.patron
    url = None
    if patron is not None and policy.can(reader, "patrons.view_patron", patron):
        url = reverse("patrons:record", args=[patron.pk])
    label, deleted = _patron_label(entry)
    return LogRow(
        entry=entry,
        patron=label,
        patron_url=url,
        patron_deleted=deleted,
        object=_object_label(entry),
        summary=details_summary(entry),
    )


def _patron_label(entry: OperatorAction) -> tuple[str, bool]:
    """The patron as "Name (barcode)", and whether they were deleted since: the entry then
    keeps the name it was written with."""
    patron = entry.patron
    if patron is not None:
        name = patron.display_name
        return (f"{name} ({patron.barcode})" if patron.barcode else name), False
    if entry.object_type == _PATRON_TYPE and entry.object_repr:
        return entry.object_repr, True
    return "", False


def _object_label(entry: OperatorAction) -> str:
    """What else was acted on; a patron shows in the patron column."""
    return "" if entry.object_type == _PATRON_TYPE else entry.object_repr


def details_summary(entry: OperatorAction) -> str:
    """The details in words: "Status: Active → Suspended; Password changed"."""
    details = entry.details if isinstance(entry.details, dict) else {}
    model = _model_of(entry)
    parts = []
    # PostgreSQL's jsonb keeps keys in its own order: what changed first, then the rest.
    for key, value in sorted(details.items(), key=lambda item: _KEY_ORDER.get(item[0], 2)):
        if key == "changes" and isinstance(value, dict):
            parts += [_change(model, name, change) for name, change in value.items()]
        elif key == "rows" and isinstance(value, dict):
            parts += [f"{_ROW_KINDS.get(k, capfirst(k))}: {_counted(c)}" for k, c in value.items()]
        else:
            parts.append(f"{_label(model, key)}: {_shown(model, key, value)}")
    if not parts and "changes" in details:
        return NO_CHANGES
    return "; ".join(parts)


def _change(model, name: str, change) -> str:
    label = _label(model, name)
    if change == log.CHANGED:
        return f"{label} changed"
    if isinstance(change, list) and len(change) == 2:
        old, new = change
        return f"{label}: {_shown(model, name, old)} → {_shown(model, name, new)}"
    return f"{label}: {_shown(model, name, change)}"  # another shape, from another service


def _counted(counts) -> str:
    """{"added": 1, "removed": 2} -> "1 added, 2 removed"."""
    if not isinstance(counts, dict):
        return str(counts)
    return ", ".join(f"{count} {what}" for what, count in counts.items())


def _model_of(entry: OperatorAction):
    if entry.action.startswith("patron_"):
        return apps.get_model(_PATRON_TYPE)
    try:
        return apps.get_model(entry.object_type) if entry.object_type else None
    except (LookupError, ValueError):
        return None


# Shared with the History tab of a patron record (patrons.history_selectors).
_label = log.field_label
_shown = log.shown_value


# --- CSV ----------------------------------------------------------------------------------


def csv_lines(entries: Iterable[OperatorAction]) -> Iterator[str]:
    return csv_stream.csv_lines(CSV_HEADER, (_csv_cells(entry) for entry in entries))


def _csv_cells(entry: OperatorAction) -> list[str]:
    patron, deleted = _patron_label(entry)
    return [
        timezone.localtime(entry.at).strftime("%Y-%m-%d %H:%M:%S"),
        entry.operator_name,
        entry.get_action_display(),
        f"{patron} (deleted)" if deleted else patron,
        _object_label(entry),
        entry.site.code if entry.site is not None else "",
        entry.ip_address or "",
        details_summary(entry),
    ]
