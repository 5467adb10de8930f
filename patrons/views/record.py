"""The patron record: a header and a bar of tabs; each tab is a page of its own.

A tab loaded directly is a full page; requested by htmx it is the `record` partial of the
same template (header, tab bar and tab body), so the URL stays the tab's and the header
shows what a save just changed. Every tab is a `patrons.tabs.Tab` that an app registered,
with a handler `(request, patron, tab) -> HttpResponse`; the bar shows those the operator
may see.
"""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render

from patrons import record_selectors, tabs
from patrons.models import Patron
from patrons.tabs import Tab
from patrons.views import note_popup
from security import policy

RECORD_TEMPLATE = "patrons/patron_detail.html"


def record_queryset():
    return Patron.objects.select_related("security_group", "home_site", "patron_type", "updated_by")


def get_patron_or_404(request, pk: int) -> Patron:
    """Missing and out of scope look the same (404); patrons (level 5) have no staff side."""
    policy.require(request.user, "patrons.view_patron")
    return policy.get_or_404(request.user, "patrons.view_patron", record_queryset(), pk=pk)


def render_tab(request, patron: Patron, tab: Tab, context: dict, *, status: int = 200):
    template = RECORD_TEMPLATE + "#record" if request.htmx else RECORD_TEMPLATE
    context = {
        "patron": patron,
        "tab": tab,
        "tabs": tabs.visible_tabs(request.user, patron),
        "can_edit": can_edit(request.user, patron, tab),
        "can_delete": request.user.has_perm("patrons.delete_patron", patron),
        "badges": record_selectors.patron_header_badges(patron, operator=request.user),
        "popup_notes": note_popup.popup_notes_for_visit(request, patron),
        **context,
    }
    return render(request, template, context, status=status)


def can_edit(operator, patron: Patron, tab: Tab) -> bool:
    return tab.edit_action is not None and operator.has_perm(tab.edit_action, patron)


@login_required
def patron_record(request, pk: int):
    """The record opens on its first tab."""
    patron = get_patron_or_404(request, pk)
    note_popup.start_visit(request)
    return redirect("patrons:tab", pk=pk, tab=tabs.visible_tabs(request.user, patron)[0].slug)


@login_required
def patron_tab(request, pk: int, tab: str):
    patron = get_patron_or_404(request, pk)
    selected = tabs.get(tab)
    if selected is None:
        raise Http404("No such tab.")
    policy.require(request.user, selected.view_action, patron)
    return selected.handler(request, patron, selected)
