"""Importing patrons from CSV: stage a file (read, typed, checked; nothing written to any
patron), look at the preview, then apply it all or nothing, or discard it.

    run = import_start(actor=..., feed_name=..., match_on=..., file_name=...)
    import_stage(run.pk, path)           # in the background of the request, or inline
    import_begin_apply(actor=..., run=run, valid_only=False, confirm_deactivation=False)
    import_apply(run.pk, confirm_deactivation=False)

Staging and applying may take a while: the page starts them with `in_background` and
shows the run's progress. Only the operator who staged a run may apply or discard it.
"""

import datetime
import logging
import threading

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connections, transaction
from django.utils import timezone

from patrons.csv_columns import BY_NAME, HEADER
from patrons.models import ImportedValues, ImportFeed, ImportRow, ImportRun, Patron
from patrons.services.imports.applying import ApplyRefused, apply_run
from patrons.services.imports.checks import permissions_for
from patrons.services.imports.progress import Progress
from patrons.services.imports.reading import ENCODINGS
from patrons.services.imports.staging import stage_file
from patrons.services.patron import patron_update
from security import policy

__all__ = [
    "IMPORT_PERMISSION",
    "ApplyRefused",
    "import_apply",
    "import_begin_apply",
    "import_discard",
    "import_stage",
    "import_start",
    "in_background",
    "revert_imported_value",
]

logger = logging.getLogger(__name__)

IMPORT_PERMISSION = "patrons.import_patrons"
KEEP_ROWS_FOR = datetime.timedelta(days=7)
NOT_YOURS = "Only the operator who checked this file can apply or discard it."
NOT_WAITING = "This import is not waiting to be applied: it is {status}."
UNEXPECTED = "Something unexpected stopped the import: nothing was applied."
UNKNOWN_PROTECTED = "Protected columns must be columns of the format: {names} are not."
UNKNOWN_ENCODING = "Choose an encoding from the list."
NOT_IMPORTED = "This field was not set by an import."


def import_start(
    *,
    actor: Patron,
    feed_name: str,
    match_on: str,
    file_name: str,
    encoding: str = "",
    protected=(),
    deactivate_missing: bool = False,
) -> ImportRun:
    """A new run, committed at once so that its page can follow it."""
    policy.require(actor, IMPORT_PERMISSION)
    unknown = sorted(set(protected) - set(HEADER))
    if unknown:
        raise ValidationError({"protected": UNKNOWN_PROTECTED.format(names=", ".join(unknown))})
    if encoding and encoding not in ENCODINGS:
        raise ValidationError({"encoding": UNKNOWN_ENCODING})
    feed, _created = ImportFeed.objects.get_or_create(name=feed_name.strip())
    run = ImportRun(
        operator=actor,
        feed=feed,
        file_name=file_name[:200],
        match_on=match_on,
        encoding=encoding,
        protected=sorted(set(protected)),
        deactivate_missing=deactivate_missing,
    )
    run.full_clean(exclude=["columns"])
    run.save()
    _forget_old_rows()
    return run


def _forget_old_rows() -> None:
    """The rows of runs finished a while ago: their page keeps the counts."""
    cutoff = timezone.now() - KEEP_ROWS_FOR
    ImportRow.objects.filter(run__finished_at__lt=cutoff).delete()


def import_stage(run_id, path: str) -> None:
    """Read and check the file at `path` for the run (then delete the file: the rows are
    in the database, and every web server can show them)."""
    run = ImportRun.objects.select_related("operator__security_group", "feed").get(pk=run_id)
    progress = Progress()
    try:
        with open(path, "rb") as binary:
            stage_file(run, binary, progress=progress)
    except Exception:  # written on the run, for its page: the request has long answered
        logger.exception("Staging import %s failed", run_id)
        _fail(run, UNEXPECTED, status=ImportRun.Status.REFUSED)
    finally:
        progress.close()


def import_begin_apply(
    *, actor: Patron, run: ImportRun, valid_only: bool, confirm_deactivation: bool
) -> ImportRun:
    """Claim the run for applying: a second submit of the same preview claims nothing."""
    _require_own(actor, run)
    claimed = ImportRun.objects.filter(pk=run.pk, status=ImportRun.Status.STAGED).update(
        status=ImportRun.Status.APPLYING,
        valid_only=valid_only,
        message="",
        phase="Waiting to start",
        heartbeat_at=timezone.now(),
    )
    if not claimed:
        run.refresh_from_db()
        raise ValidationError(NOT_WAITING.format(status=run.get_status_display().lower()))
    run.refresh_from_db()
    return run


def import_apply(run_id, *, confirm_deactivation: bool = False) -> ImportRun:
    """Apply a claimed run. A refusal (stale, invalid rows, a deactivation to confirm)
    leaves it as it was, with the reason: STAGED again, or FAILED when stale."""
    run = ImportRun.objects.select_related("operator__security_group", "feed").get(pk=run_id)
    progress = Progress()
    try:
        done = apply_run(run, progress=progress, confirm_deactivation=confirm_deactivation)
    except ApplyRefused as refusal:
        stale = str(refusal).startswith("The records changed")
        _fail(
            run, str(refusal), status=ImportRun.Status.FAILED if stale else ImportRun.Status.STAGED
        )
        return run
    except Exception:  # rolled back; written on the run, for its page
        logger.exception("Applying import %s failed", run_id)
        _fail(run, UNEXPECTED, status=ImportRun.Status.FAILED)
        return run
    finally:
        progress.close()
    run.status, run.phase, run.finished_at = ImportRun.Status.APPLIED, "", timezone.now()
    run.counts = {**run.counts, **done}
    run.save(update_fields=["status", "phase", "finished_at", "counts"])
    return run


def import_discard(*, actor: Patron, run: ImportRun) -> None:
    _require_own(actor, run)
    with transaction.atomic():
        locked = ImportRun.objects.select_for_update().get(pk=run.pk)
        running = locked.is_running and not locked.is_interrupted
        if running or locked.status == ImportRun.Status.APPLIED:
            raise ValidationError(NOT_WAITING.format(status=locked.get_status_display().lower()))
        locked.rows.all().delete()
        locked.status, locked.finished_at = ImportRun.Status.DISCARDED, timezone.now()
        locked.save(update_fields=["status", "finished_at"])


def _require_own(actor: Patron, run: ImportRun) -> None:
    policy.require(actor, IMPORT_PERMISSION)
    if run.operator_id != actor.pk:
        raise PermissionDenied(NOT_YOURS)


def _fail(run: ImportRun, message: str, *, status: str) -> None:
    ImportRun.objects.filter(pk=run.pk).update(
        status=status, message=message, phase="", finished_at=timezone.now()
    )
    run.refresh_from_db()


def in_background(target, *args, **kwargs) -> None:
    """Run `target` in a thread of this process (no broker: the run's row says how it
    goes), or at once when LIBSTAFF_IMPORT_IN_BACKGROUND is off (tests, commands)."""
    if not settings.LIBSTAFF_IMPORT_IN_BACKGROUND:
        target(*args, **kwargs)
        return
    threading.Thread(target=_in_thread, args=(target, args, kwargs), daemon=True).start()


def _in_thread(target, args, kwargs) -> None:
    try:
        target(*args, **kwargs)
    finally:
        connections.close_all()


# --- a field changed by hand -------------------------------------------------------------


def revert_imported_value(*, actor: Patron, patron: Patron, name: str, version: int) -> Patron:
    """Set a field back to what the patron's import says, through the tab's own service
    (its permission, scope, version check and history)."""
    imported = ImportedValues.objects.filter(patron=patron).first()
    column = BY_NAME.get(name)
    if imported is None or column is None or column.attname not in imported.values:
        raise ValidationError(NOT_IMPORTED)
    value = typed_value(column, imported.values[column.attname])
    (action,) = permissions_for([name])
    return patron_update(
        actor=actor, patron=patron, action=action, version=version, **{column.name: value}
    )


def typed_value(column, text):
    """A stored imported value (as the database writes it as text) as the field's value."""
    field = column.field
    if text is None:
        return None if field.null else field.get_default()
    if field.is_relation:
        return field.related_model.objects.filter(pk=int(text)).first()
    return field.to_python(text == "true" if column.kind == "flag" else text)
