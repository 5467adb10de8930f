"""Photo import: upload a zip of photos named by barcode or admin system id, get a report.

The upload's declared length is checked before anything reads the body (the view is
CSRF-exempt only so that this happens before CsrfViewMiddleware parses the upload; the
check itself runs right after, on every POST that goes further)."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from patrons.forms.photos import MAX_UPLOAD_BYTES, ZIP_TOO_LARGE, PhotoImportForm
from patrons.services import photos
from security import policy

TEMPLATE = "patrons/photos.html"
FORM_OVERHEAD_BYTES = 64 * 1024  # the multipart envelope and the other fields


@csrf_exempt
@login_required
def photo_import(request):
    policy.require(request.user, photos.IMPORT)
    if request.method == "POST":
        if _declared_length(request) > MAX_UPLOAD_BYTES + FORM_OVERHEAD_BYTES:
            return _page(request, PhotoImportForm(), refusal=ZIP_TOO_LARGE, status=422)
        return _import(request)
    return _page(request, PhotoImportForm())


@csrf_protect
def _import(request):
    form = PhotoImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _page(request, form, status=422)
    try:
        result = photos.photos_import(
            actor=request.user,
            archive=form.cleaned_data["archive"],
            match_by=form.cleaned_data["match_by"],
        )
    except ValidationError as error:
        form.add_error("archive" if not hasattr(error, "error_dict") else None, error)
        return _page(request, form, status=422)
    return _page(
        request, PhotoImportForm(initial={"match_by": form.cleaned_data["match_by"]}), result=result
    )


def _declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _page(request, form, *, result=None, refusal="", status=200):
    context = {"form": form, "result": result, "refusal": refusal}
    if result is not None:
        context["skipped_by_reason"] = _by_reason(result)
    return render(request, TEMPLATE, context, status=status)


def _by_reason(result) -> list[tuple[str, list[str]]]:
    grouped: dict[str, list[str]] = {}
    for row in result.skipped:
        grouped.setdefault(row.reason, []).append(row.file)
    return sorted(grouped.items())
