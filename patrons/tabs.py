"""The registry of a patron record's tabs. Apps contribute tabs from their AppConfig.ready
(the fines app adds Fines) without `patrons` importing them; the tab bar, Alt+1..9, the
record's first tab and the URL grid test all read it.

A tab has an order (its place in the bar), the action that shows it (asked of the policy
with the patron) and the action that edits it, and a handler
`(request, patron, tab) -> HttpResponse` that serves its URL, GET and POST.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse

VIEW_PATRON = "patrons.view_patron"


@dataclass(frozen=True)
class Tab:
    slug: str
    label: str
    template: str
    handler: Callable[..., HttpResponse]
    order: int
    edit_action: str | None = None
    view_action: str = VIEW_PATRON


_tabs: dict[str, Tab] = {}


def register(tab: Tab) -> None:
    """Add a tab; registering the same slug twice with another tab is a mistake."""
    existing = _tabs.get(tab.slug)
    if existing is not None and existing != tab:
        raise ImproperlyConfigured(f"Two record tabs are registered as {tab.slug!r}.")
    _tabs[tab.slug] = tab


def all_tabs() -> list[Tab]:
    """Every registered tab, in the order of the bar."""
    return sorted(_tabs.values(), key=lambda tab: (tab.order, tab.slug))


def get(slug: str) -> Tab | None:
    return _tabs.get(slug)


def visible_tabs(operator, patron) -> list[Tab]:
    """The tabs this operator sees on this patron's record (the policy decides)."""
    return [tab for tab in all_tabs() if operator.has_perm(tab.view_action, patron)]
