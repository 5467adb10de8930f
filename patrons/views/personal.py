import copy
import mimetypes

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from patrons import import_selectors, services
from patrons.csv_columns import BY_NAME
from patrons.forms.record import PersonalForm
from patrons.services import imports
from patrons.views.record import can_edit, get_patron_or_404, render_tab

SAVED = "{tab} saved."


def personal_tab(request, patron, tab):
    editable = can_edit(request.user, patron, tab)
    if request.method == "POST":
        if not editable:
            raise PermissionDenied
        return _save(request, patron, tab)
    form = PersonalForm(instance=patron, operator=request.user, readonly=not editable)
    return render_tab(request, patron, tab, _context(patron, form))


def _context(patron, form) -> dict:
    return {"form": form, "changed_by_hand": import_selectors.changed_by_hand(patron)}


def _save(request, patron, tab):
    # The form fills its instance while validating: give it a copy, so that the header
    # keeps showing the record as saved when the save is refused.
    form = PersonalForm(
        request.POST, request.FILES, instance=copy.copy(patron), operator=request.user
    )
    if form.is_valid():
        try:
            patron = services.patron_update(
                actor=request.user,
                patron=patron,
                action=tab.edit_action,
                version=form.cleaned_data["version"],
                **form.changes(),
            )
        except services.StaleEdit as stale:
            form.rebase(stale)
            patron = stale.current
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, SAVED.format(tab=tab.label))
            fresh = PersonalForm(instance=patron, operator=request.user)
            return render_tab(request, patron, tab, _context(patron, fresh))
    return render_tab(request, patron, tab, _context(patron, form), status=422)


@login_required
def patron_photo(request, pk: int):
    """Photos are personal data: served only to operators who may view the patron."""
    patron = get_patron_or_404(request, pk)
    if not patron.photo:
        raise Http404("No photo.")
    try:
        photo = patron.photo.open("rb")
    except FileNotFoundError as missing:
        raise Http404("No photo.") from missing
    content_type = mimetypes.guess_type(patron.photo.name)[0] or "application/octet-stream"
    response = FileResponse(photo, content_type=content_type)
    response["Cache-Control"] = "private, max-age=3600"
    return response


REVERTED = "{field} is back to the imported value."


@require_POST
@login_required
def revert_imported_value(request, pk: int, field: str):
    """Give a field changed by hand the value its import has, through the tab's service:
    refused as a stale edit when the record changed since the page was loaded."""
    patron = get_patron_or_404(request, pk)
    version = request.POST.get("version", "")
    try:
        imports.revert_imported_value(
            actor=request.user,
            patron=patron,
            name=field,
            version=int(version) if version.isdigit() else -1,
        )
    except services.StaleEdit as stale:
        messages.error(request, str(stale))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        label = BY_NAME[field].label.capitalize()
        messages.success(request, REVERTED.format(field=label))
    return redirect("patrons:tab", pk=pk, tab="personal")
