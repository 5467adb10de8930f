"""The Notes tab: the notes the operator may see, and adding, changing and deleting those
they may edit.

Every POST goes to the tab's URL. Without a `note` it adds one; with `note` (an id) it
changes that note, or deletes it when `delete` is posted too; `?edit=<id>` shows a note's
edit form. A note id is looked up among the notes of this patron that the operator may
edit: any other id (another patron's note, an owner site out of scope) is "not found".
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from patrons import note_selectors, services
from patrons.forms.notes import NoteForm
from patrons.forms.record import add_service_errors
from patrons.models import Note
from patrons.views.record import can_edit, render_tab
from security import policy, working_site
from sites.models import Site

NOTE_ADDED = "Note added."
NOTE_SAVED = "Note saved."
NOTE_DELETED = "Note deleted."
NOTE_NOT_FOUND = "No note found."


def notes_tab(request, patron, tab):
    editable = can_edit(request.user, patron, tab)
    if request.method == "POST":
        if not editable:
            raise PermissionDenied
        if "note" not in request.POST:
            return _add(request, patron, tab)
        note = _editable_or_404(request, patron, request.POST["note"])
        if "delete" in request.POST:
            return _delete(request, patron, tab, note)
        return _change(request, patron, tab, note)
    editing = None
    if editable and "edit" in request.GET:
        note = _editable_or_404(request, patron, request.GET["edit"])
        editing = NoteForm(operator=request.user, note=note)
    return _render(request, patron, tab, editing=editing)


def _editable_or_404(request, patron, note_id) -> Note:
    note = note_selectors.editable_note(operator=request.user, patron=patron, note_id=note_id)
    if note is None:
        raise Http404(NOTE_NOT_FOUND)
    return note


def _add(request, patron, tab):
    form = NoteForm(request.POST, operator=request.user)
    if form.is_valid():
        try:
            services.note_add(actor=request.user, patron=patron, **form.service_arguments())
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, NOTE_ADDED)
            return _render(request, patron, tab)
    return _render(request, patron, tab, add_form=form, status=422)


def _change(request, patron, tab, note):
    form = NoteForm(request.POST, operator=request.user, note=note)
    if form.is_valid():
        try:
            services.note_update(
                actor=request.user,
                note=note,
                version=form.cleaned_data["version"],
                **form.service_arguments(),
            )
        except Note.DoesNotExist as gone:
            raise Http404(NOTE_NOT_FOUND) from gone
        except services.StaleNote as stale:
            form.rebase(stale)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, NOTE_SAVED)
            return _render(request, patron, tab)
    return _render(request, patron, tab, editing=form, status=422)


def _delete(request, patron, tab, note):
    try:
        services.note_delete(actor=request.user, note=note, version=request.POST.get("version", ""))
    except Note.DoesNotExist as gone:
        raise Http404(NOTE_NOT_FOUND) from gone
    except services.StaleNote as stale:
        messages.error(request, str(stale))
        return _render(request, patron, tab, status=422)
    messages.success(request, NOTE_DELETED)
    return _render(request, patron, tab)


def _render(request, patron, tab, *, add_form=None, editing=None, status=200):
    operator = request.user
    editable = can_edit(operator, patron, tab)
    notes = list(note_selectors.visible_notes(operator=operator, patron=patron))
    for note in notes:
        note.editable = editable and policy.can(operator, services.EDIT_NOTES, note)
    if editable and add_form is None:
        add_form = NoteForm(operator=operator, default_site_id=_default_owner_site_id(request))
    context = {
        "notes": notes,
        "add_form": add_form if editable else None,
        "editing": editing,
        "editing_id": editing.note.pk if editing is not None else None,
    }
    return render_tab(request, patron, tab, context, status=status)


def _default_owner_site_id(request) -> int | None:
    """The operator's working site, else their home site, when they may add notes there."""
    operator = request.user
    for site_id in (working_site.site_id(request), operator.home_site_id):
        if site_id is not None and policy.can(operator, services.EDIT_NOTES, Site(pk=site_id)):
            return site_id
    return None
