"""Import patrons from a CSV file, as the import page does, for a nightly job:

    manage.py import_patrons roll.csv --actor admin --feed "Student roll" --match barcode

Exit status: 0 applied (or, with --dry-run, would apply), 1 rows invalid and nothing
applied, 2 the file or the options refused. The last line is a summary for the job's log.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from patrons.csv_columns import HEADER, MATCH_KEYS
from patrons.models import ImportRow, ImportRun, Patron
from patrons.services import imports
from patrons.services.imports.reading import ENCODINGS

SHOW_INVALID = 20


class Command(BaseCommand):
    help = "Import patrons from a CSV file: check it, then apply it all or nothing."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--actor", required=True, help="The importing operator's username.")
        parser.add_argument("--feed", required=True, help='The import feed, e.g. "Student roll".')
        parser.add_argument("--match", choices=MATCH_KEYS, default="barcode")
        parser.add_argument("--encoding", choices=sorted(ENCODINGS), default="")
        parser.add_argument(
            "--protect", default="", help=f"Comma-separated, of: {', '.join(HEADER)}."
        )
        parser.add_argument("--valid-only", action="store_true", help="Apply the valid rows only.")
        parser.add_argument("--deactivate-missing", action="store_true")
        parser.add_argument(
            "--confirm-deactivation",
            action="store_true",
            help="Deactivate even beyond the limit (LIBSTAFF_IMPORT_DEACTIVATION_LIMIT).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Check only: write nothing.")

    def handle(self, *args, **options):
        actor = Patron.objects.filter(username=options["actor"]).first()
        if actor is None:
            raise CommandError(f"No operator has the username {options['actor']!r}.", returncode=2)
        run = self._stage(actor, options)
        self._report(run)
        if run.status == ImportRun.Status.REFUSED:
            self._exit(run, "refused", 2)
        if run.counts["invalid"] and not options["valid_only"]:
            self._exit(run, "not applied: rows are invalid", 1)
        if options["dry_run"]:
            imports.import_discard(actor=actor, run=run)
            self._summary(run, "dry run: nothing written")
            return
        run = self._apply(actor, run, options)
        if run.status != ImportRun.Status.APPLIED:
            self.stderr.write(run.message)
            self._exit(run, "not applied", 1)
        self._summary(run, "applied")

    def _stage(self, actor, options) -> ImportRun:
        protected = [name.strip() for name in options["protect"].split(",") if name.strip()]
        try:
            open(options["file"], "rb").close()
            run = imports.import_start(
                actor=actor,
                feed_name=options["feed"],
                match_on=options["match"],
                file_name=options["file"],
                encoding=options["encoding"],
                protected=protected,
                deactivate_missing=options["deactivate_missing"],
            )
        except (PermissionDenied, ValidationError, OSError) as error:
            raise CommandError(f"Not imported: {_said(error)}", returncode=2) from error
        imports.import_stage(run.pk, options["file"])
        run.refresh_from_db()
        return run

    def _apply(self, actor, run: ImportRun, options) -> ImportRun:
        imports.import_begin_apply(
            actor=actor,
            run=run,
            valid_only=options["valid_only"],
            confirm_deactivation=options["confirm_deactivation"],
        )
        return imports.import_apply(run.pk, confirm_deactivation=options["confirm_deactivation"])

    def _report(self, run: ImportRun) -> None:
        for problem in run.file_errors:
            self.stderr.write(problem)
        invalid = run.rows.filter(action=ImportRow.Action.INVALID).order_by("line")
        for line, errors in invalid.values_list("line", "errors")[:SHOW_INVALID]:
            self.stderr.write(f"line {line}: {' '.join(errors)}")
        for item in run.deactivations:
            self.stdout.write(f"{item['site']}: {item['count']} of {item['active']} to deactivate")

    def _summary(self, run: ImportRun, outcome: str) -> None:
        counts = run.counts
        self.stdout.write(
            f"import {run.file_name}: {counts.get('create', 0)} to create, "
            f"{counts.get('update', 0)} to update, {counts.get('unchanged', 0)} unchanged, "
            f"{counts.get('invalid', 0)} invalid; {outcome}"
        )

    def _exit(self, run: ImportRun, outcome: str, code: int):
        self._summary(run, outcome)
        raise CommandError(f"import {run.file_name}: {outcome}", returncode=code)


def _said(error) -> str:
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error) or "permission denied"
