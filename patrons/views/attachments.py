"""The Attachments tab, and the download of one attachment: never a public URL, always
through the policy (an operator who may see the patron)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404

from patrons import services
from patrons.forms.attachments import AttachmentForm, max_attachment_bytes
from patrons.models import Attachment
from patrons.views.record import can_edit, get_patron_or_404, render_tab

ADDED = "{name} attached."
DELETED = "{name} deleted."
NOT_FOUND = "No such attachment."
ATTACH_HELP = "A PDF or an image (PNG, JPEG or GIF) of at most {max_mb} MB."


def attachments_tab(request, patron, tab):
    editable = can_edit(request.user, patron, tab)
    if request.method != "POST":
        return _render(request, patron, tab, AttachmentForm())
    if not editable:
        raise PermissionDenied
    if "delete" in request.POST:
        return _delete(request, patron, tab)
    form = AttachmentForm(request.POST, request.FILES)
    if not form.is_valid():
        return _render(request, patron, tab, form, status=422)
    try:
        attachment = services.attachment_add(
            actor=request.user,
            patron=patron,
            file=form.cleaned_data["file"],
            description=form.cleaned_data["description"],
            content_type=form.content_type,
        )
    except ValidationError as error:
        form.add_error(None, error)
        return _render(request, patron, tab, form, status=422)
    messages.success(request, ADDED.format(name=attachment.file_name))
    return _render(request, patron, tab, AttachmentForm())


def _delete(request, patron, tab):
    try:
        attachment_id = int(request.POST["delete"])
        attachment = services.attachment_delete(
            actor=request.user, patron=patron, attachment_id=attachment_id
        )
    except (ValueError, Attachment.DoesNotExist) as missing:
        raise Http404(NOT_FOUND) from missing
    messages.success(request, DELETED.format(name=attachment.file_name))
    return _render(request, patron, tab, AttachmentForm())


def _render(request, patron, tab, form, *, status: int = 200):
    context = {
        "form": form,
        "attachments": list(patron.attachments.select_related("created_by")),
        "attach_help": ATTACH_HELP.format(max_mb=max_attachment_bytes() // (1024 * 1024)),
    }
    return render_tab(request, patron, tab, context, status=status)


@login_required
def attachment_download(request, pk: int, attachment_id: int):
    patron = get_patron_or_404(request, pk)
    attachment = patron.attachments.filter(pk=attachment_id).first()
    if attachment is None:
        raise Http404(NOT_FOUND)
    try:
        content = attachment.file.open("rb")
    except FileNotFoundError as missing:
        raise Http404(NOT_FOUND) from missing
    return FileResponse(
        content,
        as_attachment=True,
        filename=attachment.file_name,
        content_type=attachment.content_type,
    )
