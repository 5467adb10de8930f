"""What other apps say against deleting a patron (the fines app: "Owes $12.50"), without
`patrons` importing them. Deleting a patron cascades to their rows in every app, so an app
whose rows must not vanish (money owed either way) refuses here.

An app registers a check from its AppConfig.ready:

    deletion.register("fines.balance", check)

A check is `(patron) -> list[Refusal]`, empty when it has nothing against the deletion. It
reads what is saved now: the confirmation page asks it, and `services.patron_delete` asks
it again with the patron's row locked (every change to a patron's rows in another app
references that row, so it waits for the lock, or the deletion waits for it).

A check that fails refuses (fails closed): a deletion cannot be undone.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

CHECK_FAILED = (
    "Whether {key} allows deleting this patron could not be checked: ask an administrator."
)


@dataclass(frozen=True)
class Link:
    """Somewhere to go to clear the refusal. With `permission`, shown only to operators who
    hold it on the patron (`operator.has_perm(permission, patron)`)."""

    label: str
    url: str
    permission: str | None = None


@dataclass(frozen=True)
class Refusal:
    message: str
    links: tuple[Link, ...] = ()

    def links_for(self, operator, patron) -> list[Link]:
        return [
            link
            for link in self.links
            if link.permission is None or operator.has_perm(link.permission, patron)
        ]


Check = Callable[..., list[Refusal]]

_checks: dict[str, Check] = {}


def register(key: str, check: Check) -> None:
    existing = _checks.get(key)
    if existing is not None and existing != check:
        raise ImproperlyConfigured(f"Two deletion checks are registered as {key!r}.")
    _checks[key] = check


def unregister(key: str) -> None:
    _checks.pop(key, None)


def refusals(patron) -> list[Refusal]:
    """Every registered check's refusals, in the order of their keys."""
    found = []
    for key in sorted(_checks):
        try:
            found.extend(_checks[key](patron))
        except Exception:
            logger.exception("Deletion check %s failed", key)
            found.append(Refusal(CHECK_FAILED.format(key=key)))
    return found


# --- Set-based: many patrons at once (the purge) -----------------------------------------
#
# An app whose check can be said in SQL registers it here too, as a function that takes a
# queryset of patrons and returns those it has nothing against:
#
#     deletion.register_filter("fines.balance", without_balance, reason="balance not zero")
#
# `deletable(queryset)` applies every registered filter; the purge lists its candidates
# with it and still asks `refusals(patron)` of each, row locked, before acting.

Filter = Callable[..., object]


@dataclass(frozen=True)
class _RegisteredFilter:
    keep: Filter
    reason: str


_filters: dict[str, _RegisteredFilter] = {}


def register_filter(key: str, keep: Filter, *, reason: str) -> None:
    existing = _filters.get(key)
    if existing is not None and existing.keep != keep:
        raise ImproperlyConfigured(f"Two deletion filters are registered as {key!r}.")
    _filters[key] = _RegisteredFilter(keep, reason)


def unregister_filter(key: str) -> None:
    _filters.pop(key, None)


def deletable(patrons):
    """`patrons` (a queryset) without those some registered filter has something against."""
    for key in sorted(_filters):
        patrons = _filters[key].keep(patrons)
    return patrons


def filter_reasons() -> list[tuple[str, Filter]]:
    """Each registered filter's reason in words ("balance not zero") and its filter."""
    return [(_filters[key].reason, _filters[key].keep) for key in sorted(_filters)]
