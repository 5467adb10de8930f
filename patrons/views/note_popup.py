"""Pop-up notes: shown in a dialog once per record visit.

A visit starts when the operator opens the record at its own URL (/staff/patrons/<id>/,
where the list, the search's exact hit and registration lead) or opens another patron's
record. The first full page of the visit carries the dialog and marks the session with the
patron's id; later full pages of the same record (a save without JavaScript, a reload) and
htmx tab switches (never a full page) do not show it again. The mark lives in the session,
not on the web tier, and holds one patron: opening another record replaces it.
"""

from patrons import note_selectors

SHOWN = "notes_popup_shown"  # session key: the patron whose pop-up notes this visit showed


def start_visit(request) -> None:
    request.session.pop(SHOWN, None)


def popup_notes_for_visit(request, patron) -> list:
    if request.htmx or request.session.get(SHOWN) == patron.pk:
        return []
    notes = note_selectors.popup_notes(operator=request.user, patron=patron)
    if notes:
        request.session[SHOWN] = patron.pk
    return notes
