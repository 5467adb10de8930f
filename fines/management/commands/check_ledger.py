from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from fines import ledger_checks


class Command(BaseCommand):
    help = (
        "Prove that every fee's remaining amount and status, every patron's balance and "
        "every receipt's total equal the ledger. Exits with status 1 on any difference."
    )

    def handle(self, *args, **options):
        outermost = not connection.in_atomic_block
        with transaction.atomic():
            if outermost:  # one snapshot for every query, whatever the desks do meanwhile
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            report = ledger_checks.check()
        for difference in report.differences:
            self.stderr.write(str(difference))
        if report.differences:
            raise CommandError(report.summary)
        self.stdout.write(report.summary)
