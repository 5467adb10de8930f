"""The Contact tab: emails, addresses, phones, contacts and notice settings, one Save."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError

from patrons import services
from patrons.forms.contact import ADD_BUTTONS, ContactEditor
from patrons.views.record import can_edit, record_queryset, render_tab

SAVED = "{tab} saved."


def contact_tab(request, patron, tab):
    editable = can_edit(request.user, patron, tab)
    if request.method != "POST":
        return _render(request, patron, tab, ContactEditor(patron, readonly=not editable))
    if not editable:
        raise PermissionDenied
    adding = next((name for button, name in ADD_BUTTONS.items() if button in request.POST), None)
    editor = ContactEditor(patron, request.POST, add=adding)
    if adding:
        return _render(request, patron, tab, editor)
    if editor.is_valid():
        try:
            saved = services.patron_contact_update(
                actor=request.user, patron=patron, **editor.service_arguments()
            )
        except services.StaleEdit as stale:
            editor.form.add_error(None, str(stale))
        except ValidationError as error:
            editor.add_errors(error)
        else:
            return _saved(request, saved, tab)
    return _render(request, patron, tab, editor, status=422)


def _saved(request, saved, tab):
    messages.success(request, SAVED.format(tab=tab.label))
    if saved.channel_switched_to:
        messages.info(request, services.CHANNEL_SWITCHED[saved.channel_switched_to])
    patron = record_queryset().get(pk=saved.patron.pk)
    return _render(request, patron, tab, ContactEditor(patron))


def _render(request, patron, tab, editor, *, status=200):
    return render_tab(request, patron, tab, {"contact": editor}, status=status)
