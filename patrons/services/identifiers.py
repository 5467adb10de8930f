"""The Identifiers tab's writes: add, change and remove one identifier of a patron.

Identifiers are personal data: every write needs `patrons.edit_personal` on the patron. A
value is unique across all patrons (the database constraint IDENTIFIER_VALUE_UNIQUE has the
last word, also when two operators add one value at the same moment). Values are trimmed
and their inner runs of spaces made one, as the patron list's search does to what it is
given, so that an exact search finds every value; they are compared exactly as the
constraint compares them (case matters).

Identifier edits do not raise the patron's version: an identifier is a row of its own, and a
Personal or Contact editor must not be refused for a change they never see. Instead, a
change or removal carries the `updated_at` of the row the editor saw, and is refused
(IDENTIFIER_CHANGED) when the row was saved since.
"""

import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from libstaff.queries import violated_constraint
from patrons.models import Identifier, IdentifierType, Patron
from patrons.services.patron import _acting
from security import log, policy

__all__ = [
    "EDIT_IDENTIFIERS",
    "IDENTIFIER_CHANGED",
    "IDENTIFIER_GONE",
    "IDENTIFIER_VALUE_UNIQUE",
    "VALUE_ON_RECORD",
    "VALUE_TAKEN",
    "VALUE_TAKEN_BY",
    "IdentifierValueTaken",
    "identifier_add",
    "identifier_change",
    "identifier_remove",
]

EDIT_IDENTIFIERS = "patrons.edit_personal"
VALUE_TAKEN = "This value is already used by another patron."
VALUE_TAKEN_BY = "This value is already an identifier of {name}."
VALUE_ON_RECORD = "This patron already has this identifier."
IDENTIFIER_GONE = "This identifier is no longer on the record: reload the tab."
IDENTIFIER_CHANGED = (
    "Someone changed this identifier while you were editing it: your change was not saved. "
    "Review it, then make your change again."
)
# PostgreSQL's name for the UNIQUE of Identifier.value (unique=True, made by the migrations).
IDENTIFIER_VALUE_UNIQUE = "patrons_identifier_value_key"


class IdentifierValueTaken(ValidationError):
    """The value belongs to another identifier. `holder` is its patron when the actor may
    see them (the tab names and links them), else None: a patron outside the actor's scope
    is never revealed."""

    def __init__(self, message: str, *, holder: Patron | None):
        super().__init__({"value": ValidationError(message, code="unique")})
        self.holder = holder


@transaction.atomic
def identifier_add(
    *, actor: Patron, patron: Patron, identifier_type: IdentifierType, value: str, note: str = ""
) -> Identifier:
    current = _locked_patron(actor, patron)
    row = Identifier(
        patron=current,
        identifier_type=identifier_type,
        value=normalized_value(value),
        note=note.strip(),
        created_by=actor,
        updated_by=actor,
    )
    _save(actor, row)
    _log(actor, current, "added", _describe(row))
    return row


@transaction.atomic
def identifier_change(
    *,
    actor: Patron,
    patron: Patron,
    identifier: Identifier,
    seen_updated_at: datetime.datetime,
    identifier_type: IdentifierType,
    value: str,
    note: str = "",
) -> Identifier:
    current = _locked_patron(actor, patron)
    row = _locked_row(current, identifier, seen_updated_at)
    before = _describe(row)
    row.identifier_type = identifier_type
    row.value = normalized_value(value)
    row.note = note.strip()
    after = _describe(row)
    if after == before:
        return row
    row.updated_by = actor
    _save(actor, row)
    changes = {name: [before[name], after[name]] for name in before if before[name] != after[name]}
    _log(actor, current, "changed", {"value": after["value"], "changes": changes})
    return row


@transaction.atomic
def identifier_remove(
    *, actor: Patron, patron: Patron, identifier: Identifier, seen_updated_at: datetime.datetime
) -> None:
    current = _locked_patron(actor, patron)
    row = _locked_row(current, identifier, seen_updated_at)
    details = _describe(row)
    with _acting(actor):
        row.delete()
    _log(actor, current, "removed", details)


def normalized_value(value: str) -> str:
    return " ".join(value.split())


def _locked_patron(actor: Patron, patron: Patron) -> Patron:
    """The patron re-read under a lock, and still the actor's to edit: a concurrent change
    of group or home site cannot slip an identifier edit past the policy."""
    policy.require(actor, EDIT_IDENTIFIERS, patron)
    current = (
        Patron.objects.select_for_update(no_key=True, of=("self",))
        .select_related("security_group")
        .get(pk=patron.pk)
    )
    policy.require(actor, EDIT_IDENTIFIERS, current)
    return current


def _locked_row(
    patron: Patron, identifier: Identifier, seen_updated_at: datetime.datetime
) -> Identifier:
    """The patron's own identifier under a lock, as the editor saw it, or a refusal. An
    identifier of another patron is as gone as a deleted one."""
    row = (
        Identifier.objects.select_for_update(of=("self",))
        .select_related("identifier_type")
        .filter(pk=identifier.pk, patron=patron)
        .first()
    )
    if row is None:
        raise ValidationError(IDENTIFIER_GONE, code="gone")
    if row.updated_at != seen_updated_at:
        raise ValidationError(IDENTIFIER_CHANGED, code="stale")
    return row


def _save(actor: Patron, row: Identifier) -> None:
    """Validate and write, the unique constraint having the last word: two operators adding
    one value at the same moment both pass the check before it, and the later one gets the
    same field error, not a failure. The savepoint keeps the transaction usable."""
    row.full_clean(exclude=["patron", "identifier_type"], validate_unique=False)
    _check_free(actor, row)
    try:
        with transaction.atomic(), _acting(actor):
            row.save()
    except IntegrityError as error:
        if violated_constraint(error) != IDENTIFIER_VALUE_UNIQUE:
            raise
        _check_free(actor, row)  # the winner has committed: name them like any holder
        raise IdentifierValueTaken(VALUE_TAKEN, holder=None) from error


def _check_free(actor: Patron, row: Identifier) -> None:
    taken = (
        Identifier.objects.filter(value=row.value)
        .exclude(pk=row.pk)
        .select_related("patron__security_group", "patron__home_site")
        .first()
    )
    if taken is None:
        return
    holder = taken.patron
    if holder.pk == row.patron_id:
        raise IdentifierValueTaken(VALUE_ON_RECORD, holder=None)
    if policy.can(actor, "patrons.view_patron", holder):
        raise IdentifierValueTaken(VALUE_TAKEN_BY.format(name=holder.display_name), holder=holder)
    raise IdentifierValueTaken(VALUE_TAKEN, holder=None)


def _describe(row: Identifier) -> dict:
    return {"type": str(row.identifier_type), "value": row.value, "note": row.note}


def _log(actor: Patron, patron: Patron, what: str, details: dict) -> None:
    log.record(
        log.Kind.PATRON_CHANGED,
        operator=actor,
        patron=patron,
        details={"identifier": {"action": what, **details}},
    )
