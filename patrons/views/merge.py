"""Merging two patron records (/staff/patrons/merge/).

GET ?a=<barcode or id>&b=...: the two records side by side, `a` surviving (a link swaps
them), with a radio for each field that differs, what moves and why a merge would be
refused. POST: the merge, for the records and versions the preview showed; then the
survivor's record. Both records are looked up within the operator's scope: missing and
out of scope give the same "not found".
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render

from patrons import merge_selectors, services
from patrons.forms.merge import MergeChoicesForm, MergePairForm, MergePickForm
from patrons.merge_selectors import NOT_FOUND
from security import policy

TEMPLATE = "patrons/merge.html"
MERGED = "{merged} ({barcode}) was merged into this record."
STALE_MERGE = "One of the records changed since the preview: review the merge again. {detail}"
POSTED_RECORD_GONE = "One of the records is no longer there: pick the records again."
ACCESS_STAYS = (
    "The surviving record keeps its own access: security group, username, password, PIN and "
    "site access. The merged-away record's access is not merged."
)


@login_required
def patron_merge(request):
    policy.require(request.user, services.MERGE_ACTION)
    if request.method == "POST":
        return _merge(request)
    return _preview_page(request)


def _preview_page(request):
    if not request.GET:
        return _render(request, pick=MergePickForm())
    pick = MergePickForm(request.GET)
    if not pick.is_valid():
        return _render(request, pick=pick, status=422)
    survivor, merged, missing = _find_pair(request, pick.cleaned_data)
    if missing:
        return _render(request, pick=pick, not_found=missing, status=404)
    return _render_preview(request, pick, survivor, merged)


def _find_pair(request, data):
    found = {
        key: merge_selectors.merge_candidate(operator=request.user, query=data[key])
        for key in ("a", "b")
    }
    missing = [NOT_FOUND.format(query=data[key]) for key in ("a", "b") if found[key] is None]
    return found["a"], found["b"], missing


def _merge(request):
    pair = MergePairForm(request.POST)
    if not pair.is_valid():
        return _render(request, pick=MergePickForm(), errors=[POSTED_RECORD_GONE], status=422)
    survivor, merged = (
        merge_selectors.merge_patron_get(operator=request.user, pk=pair.cleaned_data[key])
        for key in ("survivor", "merged")
    )
    if survivor is None or merged is None:
        return _render(request, pick=MergePickForm(), errors=[POSTED_RECORD_GONE], status=404)
    pick = MergePickForm({"a": survivor.pk, "b": merged.pk})
    preview = merge_selectors.merge_preview(operator=request.user, survivor=survivor, merged=merged)
    choices = MergeChoicesForm(request.POST, differences=preview.differences)
    if not choices.is_valid():
        return _render(request, pick=pick, preview=preview, choices=choices, status=422)
    try:
        services.patron_merge(
            actor=request.user,
            survivor=survivor,
            merged=merged,
            choices=choices.choices,
            survivor_version=pair.cleaned_data["survivor_version"],
            merged_version=pair.cleaned_data["merged_version"],
        )
    except services.StaleEdit as stale:
        errors = [STALE_MERGE.format(detail=stale)]
        survivor.refresh_from_db()
        merged.refresh_from_db()
        return _render_preview(request, pick, survivor, merged, errors=errors, status=409)
    except (ValidationError, PermissionDenied) as error:
        errors = getattr(error, "messages", None) or [str(error)]
        status = 403 if isinstance(error, PermissionDenied) else 422
        return _render(
            request, pick=pick, preview=preview, choices=choices, errors=errors, status=status
        )
    barcode = merged.barcode or "no barcode"
    messages.success(request, MERGED.format(merged=merged.display_name, barcode=barcode))
    return redirect("patrons:record", pk=survivor.pk)


def _render_preview(request, pick, survivor, merged, *, errors=(), status=200):
    """The preview with the radios at their defaults (the survivor's values)."""
    preview = merge_selectors.merge_preview(operator=request.user, survivor=survivor, merged=merged)
    choices = MergeChoicesForm(differences=preview.differences)
    return _render(
        request, pick=pick, preview=preview, choices=choices, errors=errors, status=status
    )


def _render(request, *, pick, preview=None, choices=None, errors=(), not_found=(), status=200):
    context = {
        "pick": pick,
        "preview": preview,
        "choices": choices,
        "pair": _pair_form(preview),
        "errors": list(errors),
        "not_found": list(not_found),
        "access_stays": ACCESS_STAYS,
    }
    return render(request, TEMPLATE, context, status=status)


def _pair_form(preview):
    if preview is None:
        return None
    return MergePairForm(
        initial={
            "survivor": preview.survivor.pk,
            "merged": preview.merged.pk,
            "survivor_version": preview.survivor.version,
            "merged_version": preview.merged.version,
        }
    )
