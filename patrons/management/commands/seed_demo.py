"""Demo data for trying LibStaff out, and for benchmarks (patrons.demo)."""

import pghistory
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from patrons import demo


class Command(BaseCommand):
    help = (
        "Add the demo schools, one demo account per security level and N patrons. "
        "Safe to run again: sites and accounts are kept, N more patrons are added."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--patrons", type=int, default=500, help="How many patrons to add (default 500)."
        )
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=demo.CHUNK_SIZE,
            help=f"Patrons per transaction (default {demo.CHUNK_SIZE:,}).",
        )

    def handle(self, *args, **options):
        if options["patrons"] < 0 or options["chunk_size"] < 1:
            raise CommandError("--patrons must be 0 or more and --chunk-size 1 or more.")
        try:
            with pghistory.context(command="seed_demo"):
                district, schools = demo.seed_sites()
                accounts = demo.seed_operators(district, schools)
                context = demo.seed_context(schools, actor=accounts[0].patron)
                result = demo.seed_patrons(
                    options["patrons"], context, chunk_size=options["chunk_size"]
                )
        except (ValidationError, PermissionDenied, ImproperlyConfigured) as error:
            raise CommandError(f"Demo data not loaded: {error}") from error
        self.stdout.write(f"Sites: {district} with {', '.join(schools)}.\n")
        self.stdout.write("Demo accounts:\n\n" + demo.operators_table(accounts) + "\n")
        self.stdout.write(self.style.SUCCESS(_summary(result)))


def _summary(result: demo.SeedResult) -> str:
    if not result.count:
        return "No patrons added."
    return (
        f"Added {result.count:,} patrons (barcodes {result.first_barcode} to "
        f"{result.last_barcode}) in {result.seconds:.1f} s, "
        f"{result.rows_per_second:,.0f} rows/s."
    )
