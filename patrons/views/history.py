"""The History tab: read-only, every change to the record and its sub-records, newest
first, a keyset page at a time, filtered by tab (patrons.history_selectors)."""

from django.core.exceptions import PermissionDenied

from patrons import history_selectors
from patrons.views.record import render_tab

NO_HISTORY = "No changes recorded."
NO_HISTORY_FOR_TAB = "No changes recorded on this tab."


def history_tab(request, patron, tab):
    if request.method not in ("GET", "HEAD"):
        raise PermissionDenied  # nothing here is written
    shown_tab = request.GET.get("tab", "")
    if shown_tab not in history_selectors.TAB_LABELS:
        shown_tab = ""
    page = history_selectors.history_page(
        operator=request.user,
        patron=patron,
        tab=shown_tab,
        after=request.GET.get("after", ""),
        before=request.GET.get("before", ""),
    )
    return render_tab(
        request,
        patron,
        tab,
        {
            "page": page,
            "history_tabs": history_selectors.TAB_LABELS.items(),
            "shown_tab": shown_tab,
            "no_history": NO_HISTORY_FOR_TAB if shown_tab else NO_HISTORY,
        },
    )
