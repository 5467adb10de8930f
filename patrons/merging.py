"""What other apps move when two patrons are merged (the fines app: fees, receipts, the
balance), without `patrons` importing them.

An app registers a mover from its AppConfig.ready:

    merging.register("fines.ledger", merging.Mover(move, preview, handles=...))

`move(survivor, merged)` runs inside the merge's transaction, with both patrons locked, and
returns what it moved ({"fees": 3}); `preview(merged)` says in words what would move, for
the merge page ("Credit $5.00 moves to the survivor."); `handles` names the models
("fines.fee") whose rows it moves, so the merge does not refuse for them.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class Mover:
    move: Callable[..., dict[str, int]]
    preview: Callable[..., list[str]]
    handles: frozenset[str] = frozenset()
    count: Callable[..., int] | None = None  # how many of its rows move, for the preview
    label: str = ""


_movers: dict[str, Mover] = {}


def register(key: str, mover: Mover) -> None:
    existing = _movers.get(key)
    if existing is not None and existing != mover:
        raise ImproperlyConfigured(f"Two merge movers are registered as {key!r}.")
    _movers[key] = mover


def move(survivor, merged) -> dict[str, int]:
    moved = {}
    for key in sorted(_movers):
        moved.update(_movers[key].move(survivor, merged))
    return moved


def preview_lines(merged) -> list[str]:
    return [line for key in sorted(_movers) for line in _movers[key].preview(merged)]


def counted(merged) -> list[tuple[str, int]]:
    """(label, rows that move) of each mover that counts its rows."""
    found = []
    for key in sorted(_movers):
        mover = _movers[key]
        if mover.count is not None:
            found.append((mover.label, mover.count(merged)))
    return found


def handled_models() -> frozenset[str]:
    return frozenset(label for mover in _movers.values() for label in mover.handles)
