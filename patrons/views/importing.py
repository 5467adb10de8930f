"""The import pages: upload a file, follow it being read, page through the preview, apply
or discard it, download its invalid rows. Reading and applying run in the background of
the request; the run's page follows them with a progress bar that updates by itself."""

import os
import shutil
import tempfile

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from patrons import import_selectors
from patrons.csv_columns import COLUMNS
from patrons.forms.importing import ApplyForm, ImportForm
from patrons.models import ImportRow, ImportRun
from patrons.services import imports
from patrons.services.imports.reading import ENCODINGS
from security import policy

START_TEMPLATE = "patrons/import.html"
RUN_TEMPLATE = "patrons/import_run.html"
DISCARDED = "The import of {file} was discarded: nothing was written."
APPLYING = "Applying {file}: this page follows it."


@login_required
def import_start(request):
    policy.require(request.user, imports.IMPORT_PERMISSION)
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            run = _start(request, form)
        except ValidationError as error:
            _add_errors(form, error)
        else:
            return redirect("patrons:import_run", run_id=run.pk)
    status = 422 if form.is_bound else 200
    return render(request, START_TEMPLATE, _start_context(request, form), status=status)


def _start(request, form: ImportForm) -> ImportRun:
    data = form.cleaned_data
    run = imports.import_start(
        actor=request.user,
        feed_name=data["feed"],
        match_on=data["match_on"],
        file_name=data["file"].name,
        encoding=data["encoding"],
        protected=data["protected"],
        deactivate_missing=data["deactivate_missing"],
    )
    path = _keep(data["file"])
    imports.in_background(_stage_then_forget, run.pk, path)
    return run


def _keep(upload) -> str:
    """A copy of the upload that outlives the request (Django deletes its own)."""
    handle, path = tempfile.mkstemp(prefix="libstaff-import-", suffix=".csv")
    with os.fdopen(handle, "wb") as copy:
        upload.seek(0)
        shutil.copyfileobj(upload, copy, 1024 * 1024)
    return path


def _stage_then_forget(run_id, path: str) -> None:
    try:
        imports.import_stage(run_id, path)
    finally:
        os.unlink(path)


def _add_errors(form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


def _start_context(request, form: ImportForm) -> dict:
    return {
        "form": form,
        "columns": COLUMNS,
        "runs": import_selectors.own_runs(request.user)[:10],
    }


@require_safe
@login_required
def import_run(request, run_id):
    policy.require(request.user, imports.IMPORT_PERMISSION)
    run = import_selectors.run_get(operator=request.user, run_id=run_id)
    return render(request, RUN_TEMPLATE, _run_context(request, run))


def _run_context(request, run: ImportRun, *, apply_form: ApplyForm | None = None) -> dict:
    action = request.GET.get("show", "")
    if action not in ImportRow.Action.values:
        action = _first_shown(run)
    after = request.GET.get("after", "")
    rows, next_line = import_selectors.row_page(run, action, int(after) if after.isdigit() else 0)
    over_limit = [item for item in run.deactivations if item["over_limit"]]
    return {
        "run": run,
        "interrupted": run.is_interrupted,
        "encoding_label": ENCODINGS.get(run.encoding, run.encoding),
        "show": action,
        "show_label": import_selectors.SHOWN[action],
        "row_tabs": [
            (shown, label, run.counts.get(shown, 0))
            for shown, label in import_selectors.SHOWN.items()
        ],
        "rows": rows,
        "next_line": next_line,
        "apply_form": apply_form or ApplyForm(),
        "over_limit": over_limit,
        "percent": int(100 * run.done / run.total) if run.total else 0,
    }


def _first_shown(run: ImportRun) -> str:
    for action in (ImportRow.Action.INVALID, ImportRow.Action.UPDATE, ImportRow.Action.CREATE):
        if run.counts.get(action):
            return action
    return ImportRow.Action.UNCHANGED


@require_safe
@login_required
def import_progress(request, run_id):
    """The progress bar, polled by htmx while the run works; when it is done the page
    reloads itself to show the result."""
    policy.require(request.user, imports.IMPORT_PERMISSION)
    run = import_selectors.run_get(operator=request.user, run_id=run_id)
    if not run.is_running and request.htmx:
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    return render(request, RUN_TEMPLATE + "#progress", _run_context(request, run))


@require_POST
@login_required
def import_apply(request, run_id):
    run = import_selectors.run_get(operator=request.user, run_id=run_id)
    form = ApplyForm(request.POST)
    form.is_valid()  # two check boxes: anything else reads as unticked
    data = form.cleaned_data
    try:
        run = imports.import_begin_apply(
            actor=request.user,
            run=run,
            valid_only=data.get("valid_only", False),
            confirm_deactivation=data.get("confirm_deactivation", False),
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return render(request, RUN_TEMPLATE, _run_context(request, run), status=409)
    confirm = data.get("confirm_deactivation", False)
    imports.in_background(imports.import_apply, run.pk, confirm_deactivation=confirm)
    messages.info(request, APPLYING.format(file=run.file_name))
    return redirect("patrons:import_run", run_id=run.pk)


@require_POST
@login_required
def import_discard(request, run_id):
    run = import_selectors.run_get(operator=request.user, run_id=run_id)
    try:
        imports.import_discard(actor=request.user, run=run)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return render(request, RUN_TEMPLATE, _run_context(request, run), status=409)
    messages.success(request, DISCARDED.format(file=run.file_name))
    return redirect("patrons:import")


@require_safe
@login_required
def import_invalid_csv(request, run_id):
    policy.require(request.user, imports.IMPORT_PERMISSION)
    run = import_selectors.run_get(operator=request.user, run_id=run_id)
    response = StreamingHttpResponse(
        import_selectors.invalid_rows_csv(run), content_type="text/csv; charset=utf-8"
    )
    name = os.path.splitext(os.path.basename(run.file_name))[0] or "import"
    response["Content-Disposition"] = f'attachment; filename="{_safe(name)}-invalid-rows.csv"'
    return response


def _safe(name: str) -> str:
    return "".join(ch for ch in name if ch.isalnum() or ch in "-_")[:60] or "import"
