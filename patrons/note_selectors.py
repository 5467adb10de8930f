"""Reads for the Notes tab and the pop-up notes: only the notes the operator may see (their
owner site within the operator's scope), as the policy answers in SQL."""

from django.db.models import QuerySet

from patrons.models import Note, NoteType, Patron
from security import policy
from sites.models import Site

VIEW = "patrons.view_patron"
EDIT_NOTES = "patrons.edit_notes"


def visible_notes(*, operator, patron: Patron) -> QuerySet:
    """The patron's notes the operator may see, newest first. Reached through the patron's
    reverse manager, each note already holds `patron` (the policy reads it without a query
    per note)."""
    return policy.scope(operator, VIEW, patron.notes.all()).select_related(
        "note_type", "owner_site", "created_by", "updated_by"
    )


def editable_note(*, operator, patron: Patron, note_id) -> Note | None:
    """The patron's note `note_id` if the operator may change it; None for any other id (a
    note of another patron, of an owner site out of scope, or none at all)."""
    try:
        note_id = int(note_id)
    except (TypeError, ValueError):
        return None
    return (
        policy.scope(operator, EDIT_NOTES, patron.notes.all())
        .select_related("note_type", "owner_site", "created_by", "updated_by")
        .filter(pk=note_id)
        .first()
    )


def popup_notes(*, operator, patron: Patron) -> list[Note]:
    """Shown on every tab of the record: with only what the pop-up shows (its type and
    owner site, not the authors' whole records)."""
    popups = visible_notes(operator=operator, patron=patron).filter(is_popup=True)
    return list(popups.select_related(None).select_related("note_type", "owner_site"))


def note_types() -> QuerySet:
    return NoteType.objects.order_by("name")


def note_owner_sites(operator) -> QuerySet:
    """The sites a note the operator adds or changes may belong to: where they edit notes."""
    return policy.scope(operator, EDIT_NOTES, Site).order_by("code")
