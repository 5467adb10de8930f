"""The Notes tab's writes: add, change and delete a note on a patron's record.

A note has an owner site: only operators whose scope covers it see it or change it
(security.policy, `patrons.edit_notes` on the note). A note is its own row with its own
version, its `updated_at`: a change or deletion made from a note as loaded earlier is
refused (StaleNote) when someone saved that note since, and nothing is written. Notes do
not raise the patron's version: adding a note never refuses a save on the Personal tab.
"""

from django.db import transaction
from django.utils import timezone

from patrons.models import Note, NoteType, Patron
from patrons.services.patron import _acting
from security import log, policy
from sites.models import Site

__all__ = [
    "EDIT_NOTES",
    "NOTE_FIELDS",
    "STALE_NOTE",
    "StaleNote",
    "note_add",
    "note_delete",
    "note_update",
    "note_version",
]

EDIT_NOTES = "patrons.edit_notes"
NOTE_FIELDS = ("note_type", "text", "owner_site", "is_popup", "is_visible_to_patron")
STALE_NOTE = (
    "{who} changed this note at {when} while you were editing it. Your changes were not "
    "saved: review theirs, then make yours again."
)


class StaleNote(Exception):
    """The note changed after the editor loaded it; nothing was saved."""

    def __init__(self, *, current: Note):
        self.current = current
        who = current.updated_by.display_name if current.updated_by else "Someone"
        when = timezone.localtime(current.updated_at).strftime("%H:%M")
        super().__init__(STALE_NOTE.format(who=who, when=when))


def note_version(note: Note) -> str:
    """What an editor carries to say which state of the note they saw."""
    return note.updated_at.isoformat()


@transaction.atomic
def note_add(
    *,
    actor: Patron,
    patron: Patron,
    note_type: NoteType,
    text: str,
    owner_site: Site,
    is_popup: bool = False,
    is_visible_to_patron: bool = False,
) -> Note:
    note = Note(
        patron=patron,
        note_type=note_type,
        text=text,
        owner_site=owner_site,
        is_popup=is_popup,
        is_visible_to_patron=is_visible_to_patron,
        created_by=actor,
        updated_by=actor,
    )
    policy.require(actor, EDIT_NOTES, note)
    note.full_clean()
    with _acting(actor):
        note.save()
    details = log.changes(dict.fromkeys(NOTE_FIELDS), note)
    log.record(
        log.Kind.PATRON_CHANGED,
        operator=actor,
        patron=patron,
        obj=note,
        details={"note": "added", **details},
    )
    return note


@transaction.atomic
def note_update(*, actor: Patron, note: Note, version: str, **fields) -> Note:
    """Change `fields` (names of NOTE_FIELDS) of the note; both the note as it was and as it
    will be must be the actor's to edit (a new owner site within their scope)."""
    if unknown := set(fields) - set(NOTE_FIELDS):
        raise ValueError(f"Not note fields: {sorted(unknown)}")
    current = _locked(note)
    policy.require(actor, EDIT_NOTES, current)
    _check_version(current, version)
    before = log.snapshot(current, NOTE_FIELDS)
    for name, value in fields.items():
        setattr(current, name, value)
    details = log.changes(before, current)
    if not details["changes"]:
        return current
    policy.require(actor, EDIT_NOTES, current)
    current.updated_by = actor
    current.full_clean()
    with _acting(actor):
        current.save()
    log.record(
        log.Kind.PATRON_CHANGED,
        operator=actor,
        patron=current.patron,
        obj=current,
        details={"note": "changed", **details},
    )
    return current


@transaction.atomic
def note_delete(*, actor: Patron, note: Note, version: str) -> None:
    current = _locked(note)
    policy.require(actor, EDIT_NOTES, current)
    _check_version(current, version)
    gone = {name: [old, None] for name, old in log.snapshot(current, NOTE_FIELDS).items()}
    log.record(
        log.Kind.PATRON_CHANGED,
        operator=actor,
        patron=current.patron,
        obj=current,
        details={"note": "deleted", "changes": gone},
    )
    with _acting(actor):
        current.delete()


def _locked(note: Note) -> Note:
    """The note re-read under a lock (with what the policy reads: its patron's level).
    Note.DoesNotExist when someone deleted it meanwhile."""
    return (
        Note.objects.select_for_update(of=("self",))
        .select_related("patron__security_group", "note_type", "owner_site", "updated_by")
        .get(pk=note.pk)
    )


def _check_version(current: Note, version: str) -> None:
    if note_version(current) != version:
        raise StaleNote(current=current)
