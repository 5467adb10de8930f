import copy
import mimetypes

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404

from patrons import services
from patrons.forms.record import PersonalForm
from patrons.views.record import can_edit, get_patron_or_404, render_tab

SAVED = "{tab} saved."


def personal_tab(request, patron, tab):
    editable = can_edit(request.user, patron, tab)
    if request.method == "POST":
        if not editable:
            raise PermissionDenied
        return _save(request, patron, tab)
    form = PersonalForm(instance=patron, operator=request.user, readonly=not editable)
    return render_tab(request, patron, tab, {"form": form})


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
            return render_tab(request, patron, tab, {"form": fresh})
    return render_tab(request, patron, tab, {"form": form}, status=422)


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


def revert_imported_value(request, pk: int, field: str):
    raise Http404
