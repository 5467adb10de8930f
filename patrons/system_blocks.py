"""Blocks that other apps raise (the fines app: "Debt limit reached"), computed live from
their own data, never stored: a stored copy drifts (Koha's "phantom restrictions"), a
summary updated later lags (FOLIO). Nobody lifts one by hand; they go when their cause goes.

An app registers a provider from its AppConfig.ready:

    system_blocks.register(system_blocks.Provider(
        key="fines.debt_limit",
        blocks=lambda patron: [SystemBlock("Debt limit reached", "Owes 25.00")] if ... else [],
        condition=lambda: Q(...),  # optional: the same rule as a filter on Patron
    ))

`blocks(patron)` answers for one record (its tab, header and /me/). `condition()`, when
given, is a Q on Patron that holds exactly when `blocks(patron)` is not empty: the patron
list uses it for its Blocks column and "blocked" filter in the same query as the page.
A provider without one is shown on the record and /me/ only.

A provider that fails counts as a block (fails closed, unlike FOLIO's automated blocks,
which return none when their computation fails): the desk asks rather than lends.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q

logger = logging.getLogger(__name__)

CHECK_FAILED = "Block check failed"
CHECK_FAILED_REASON = "Whether {key} blocks this patron could not be checked: ask an administrator."


@dataclass(frozen=True)
class SystemBlock:
    label: str
    reason: str
    key: str = ""  # the provider's, filled in by `blocks_of`


@dataclass(frozen=True)
class Provider:
    key: str
    blocks: Callable[..., list[SystemBlock]]
    condition: Callable[[], Q] | None = None


_providers: dict[str, Provider] = {}


def register(provider: Provider) -> None:
    existing = _providers.get(provider.key)
    if existing is not None and existing != provider:
        raise ImproperlyConfigured(
            f"Two system block providers are registered as {provider.key!r}."
        )
    _providers[provider.key] = provider


def unregister(key: str) -> None:
    _providers.pop(key, None)


def providers() -> list[Provider]:
    return sorted(_providers.values(), key=lambda provider: provider.key)


def blocks_of(patron) -> list[SystemBlock]:
    """Every system block on this patron now, each provider asked once."""
    found = []
    for provider in providers():
        try:
            raised = provider.blocks(patron)
        except Exception:
            logger.exception("System block provider %s failed", provider.key)
            raised = [SystemBlock(CHECK_FAILED, CHECK_FAILED_REASON.format(key=provider.key))]
        found.extend(SystemBlock(b.label, b.reason, key=provider.key) for b in raised)
    return found


def conditions() -> list[Q]:
    """The providers' filters on Patron, for the list (those that have one)."""
    return [provider.condition() for provider in providers() if provider.condition is not None]
