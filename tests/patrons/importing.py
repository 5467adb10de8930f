"""Helpers of the import tests: stage a file as an operator, apply it."""

from patrons.models import ImportRun
from patrons.services import imports


def stage(tmp_path, actor, content, *, match_on="barcode", feed="Student roll", **options):
    """A run of `content` (text, written as UTF-8, or bytes), staged inline."""
    path = tmp_path / f"file-{ImportRun.objects.count()}.csv"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    run = imports.import_start(
        actor=actor, feed_name=feed, match_on=match_on, file_name=path.name, **options
    )
    imports.import_stage(run.pk, str(path))
    run.refresh_from_db()
    return run


def apply(actor, run, *, valid_only=False, confirm_deactivation=False):
    imports.import_begin_apply(
        actor=actor, run=run, valid_only=valid_only, confirm_deactivation=confirm_deactivation
    )
    return imports.import_apply(run.pk, confirm_deactivation=confirm_deactivation)


def errors_by_line(run) -> dict[int, list[str]]:
    return {row.line: row.errors for row in run.rows.filter(action="invalid")}
