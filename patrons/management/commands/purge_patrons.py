"""Purge the patrons whose purge date has passed (patrons.services.purge), for cron.

    manage.py purge_patrons --actor admin [--mode anonymise|delete] [--site CODE] [--dry-run]

Prints one summary line ("purged N of M candidates (K skipped: reasons)"); a dry run lists
the candidates first and writes nothing. Exits 0, or 1 when nothing could be purged at all
(unknown actor or site, an actor who is not a District Administrator)."""

import pghistory
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from patrons.models import Patron
from patrons.services.purge import PurgeMode, purge_patrons
from sites.models import Site

UNKNOWN_ACTOR = "No active account has the username {username!r}."
UNKNOWN_SITE = "No site has the code {code!r}."


class Command(BaseCommand):
    help = (
        "Purge (anonymise or delete) the patrons whose purge date has passed and whose "
        "balance is zero. The acting District Administrator is required."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--actor", required=True, help="Username of the District Administrator acting."
        )
        parser.add_argument(
            "--mode",
            choices=PurgeMode.values,
            default=PurgeMode.ANONYMISE,
            help="anonymise (keep statistics; the default) or delete.",
        )
        parser.add_argument("--site", help="Only patrons of this site (code) and below.")
        parser.add_argument(
            "--dry-run", action="store_true", help="List the candidates; change nothing."
        )

    def handle(self, *args, **options):
        actor = _actor(options["actor"])
        site = _site(options["site"])
        try:
            with pghistory.context(command="purge_patrons"):
                result = purge_patrons(
                    actor=actor, mode=options["mode"], site=site, dry_run=options["dry_run"]
                )
        except (ValidationError, PermissionDenied) as error:
            raise CommandError(f"Nothing purged: {_text(error)}") from error
        for patron in result.would_purge:
            self.stdout.write(_listed(patron))
        self.stdout.write(result.summary())


def _actor(username: str) -> Patron:
    actor = (
        Patron.objects.select_related("security_group")
        .filter(username__iexact=username, is_active=True)
        .first()
    )
    if actor is None:
        raise CommandError(UNKNOWN_ACTOR.format(username=username))
    return actor


def _site(code: str | None) -> Site | None:
    if not code:
        return None
    site = Site.objects.filter(code__iexact=code).first()
    if site is None:
        raise CommandError(UNKNOWN_SITE.format(code=code))
    return site


def _listed(patron: Patron) -> str:
    barcode = patron.barcode or "(no barcode)"
    return f"{barcode}\t{patron.display_name}\t{patron.home_site.code}\t{patron.purge_date}"


def _text(error) -> str:
    return " ".join(getattr(error, "messages", None) or [str(error)])
