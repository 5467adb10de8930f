"""The Identifiers tab: the patron's identifiers, added, changed and removed one at a time.

Every form posts to the tab URL with an `action` (add, change, remove); a change is opened
with `?edit=<id>`, so the tab works without JavaScript. An identifier id that is not one of
this patron's is a 404, through GET, POST and htmx alike.
"""

from django.contrib import messages
from django.core.exceptions import BadRequest, PermissionDenied, ValidationError
from django.http import Http404

from patrons import services
from patrons.forms.identifiers import IdentifierForm, RowForm
from patrons.models import Identifier
from patrons.views.record import can_edit, render_tab

ADDED = "Identifier {value} added."
CHANGED = "Identifier {value} saved."
REMOVED = "Identifier {value} removed."
ADD_PREFIX = "new"
EDIT_PREFIX = "edit"


def identifiers_tab(request, patron, tab):
    editable = can_edit(request.user, patron, tab)
    if request.method != "POST":
        editing = None
        if editable and "edit" in request.GET:
            editing = _row_or_404(patron, request.GET["edit"])
        return _render(request, patron, tab, editable=editable, editing=editing)
    if not editable:
        raise PermissionDenied
    action = request.POST.get("action")
    if action == "add":
        return _add(request, patron, tab)
    if action in ("change", "remove"):
        return _on_row(request, patron, tab, action)
    raise BadRequest("Unknown action.")


def _add(request, patron, tab):
    form = IdentifierForm(request.POST, prefix=ADD_PREFIX)
    if form.is_valid():
        try:
            added = services.identifier_add(
                actor=request.user, patron=patron, **form.service_arguments()
            )
        except ValidationError as error:
            _refused(form, error)
        else:
            messages.success(request, ADDED.format(value=added.value))
            return _render(request, patron, tab)
    return _render(request, patron, tab, add_form=form, status=422)


def _on_row(request, patron, tab, action):
    row_form = RowForm(request.POST)
    row = _row_or_404(patron, request.POST.get("identifier"))
    if action == "remove":
        return _remove(request, patron, tab, row, row_form)
    form = IdentifierForm(request.POST, prefix=EDIT_PREFIX)
    if row_form.is_valid() and form.is_valid():
        try:
            saved = services.identifier_change(
                actor=request.user,
                patron=patron,
                identifier=row,
                seen_updated_at=row_form.cleaned_data["seen"],
                **form.service_arguments(),
            )
        except ValidationError as error:
            _refused(form, error)
        else:
            messages.success(request, CHANGED.format(value=saved.value))
            return _render(request, patron, tab)
    elif not row_form.is_valid():
        form.add_error(None, services.IDENTIFIER_CHANGED)
    return _render(request, patron, tab, editing=row, edit_form=form, status=422)


def _remove(request, patron, tab, row, row_form):
    if row_form.is_valid():
        try:
            services.identifier_remove(
                actor=request.user,
                patron=patron,
                identifier=row,
                seen_updated_at=row_form.cleaned_data["seen"],
            )
        except ValidationError as error:
            refusal = error.messages
        else:
            messages.success(request, REMOVED.format(value=row.value))
            return _render(request, patron, tab)
    else:
        refusal = [services.IDENTIFIER_CHANGED]
    return _render(request, patron, tab, refusal=refusal, status=422)


def _refused(form, error: ValidationError) -> None:
    form.add_service_errors(error)
    form.taken_by = getattr(error, "holder", None)


def _row_or_404(patron, raw_id) -> Identifier:
    """One of this patron's identifiers; any other id (another patron's) is not found."""
    try:
        pk = int(raw_id)
    except (TypeError, ValueError):
        raise Http404("No such identifier.") from None
    row = patron.identifiers.select_related("identifier_type").filter(pk=pk).first()
    if row is None:
        raise Http404("No such identifier.")
    return row


def _render(
    request,
    patron,
    tab,
    *,
    editable=True,
    editing=None,
    add_form=None,
    edit_form=None,
    refusal=(),
    status=200,
):
    if editing is not None and edit_form is None:
        edit_form = IdentifierForm(identifier=editing, prefix=EDIT_PREFIX)
    rows = patron.identifiers.select_related("identifier_type", "created_by", "updated_by")
    context = {
        "identifiers": list(rows),
        "editing": editing,
        "edit_form": edit_form,
        "add_form": add_form or (IdentifierForm(prefix=ADD_PREFIX) if editable else None),
        "refusal": refusal,
    }
    return render_tab(request, patron, tab, context, status=status)
