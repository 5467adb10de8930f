"""The first run without a browser: what /setup/ does, for scripts and containers."""

import getpass
import os
import sys

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.management.base import BaseCommand, CommandError

from security import accounts, services
from security.services import ALREADY_INSTALLED

PASSWORD_ENV = "LIBSTAFF_ADMIN_PASSWORD"  # noqa: S105 (a variable name, not a password)
NO_PASSWORD = (
    f"Give the password with --password, in the {PASSWORD_ENV} environment variable, "
    "or run the command in a terminal to be asked for it."
)
PASSWORDS_DIFFER = "The two passwords differ."


NEEDED_TO_INSTALL = "To set up LibStaff, give {options}."
RECOVERED = "District Administrator {username} can sign in again with the new password{two_factor}."


class Command(BaseCommand):
    help = (
        "Create the first site and the District Administrator (once); with --recover, let a "
        "District Administrator sign in again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--site-code", help="For example DIST.")
        parser.add_argument("--site-name")
        parser.add_argument("--username", required=True)
        parser.add_argument("--email")
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name")
        parser.add_argument(
            "--password", help=f"Default: ${PASSWORD_ENV}, else asked for in the terminal."
        )
        parser.add_argument(
            "--demo", action="store_true", help="Load demo libraries, operators and patrons."
        )
        parser.add_argument(
            "--recover",
            action="store_true",
            help="Recovery when nobody can sign in as a District Administrator: give the one "
            "named by --username (or by --email, who then gets --username) a new password, "
            "make them active and end their lockouts.",
        )
        parser.add_argument(
            "--reset-two-factor",
            action="store_true",
            help="With --recover: also remove their authenticator (a lost phone).",
        )

    def handle(self, *args, **options):
        if options["recover"]:
            return self._recover(options)
        if accounts.is_installed():
            raise CommandError(ALREADY_INSTALLED)
        missing = [
            f"--{name.replace('_', '-')}"
            for name in ("site_code", "site_name", "email", "last_name")
            if not options[name]
        ]
        if missing:
            raise CommandError(NEEDED_TO_INSTALL.format(options=", ".join(missing)))
        try:
            admin = services.install_first_district_administrator(
                site_code=options["site_code"],
                site_name=options["site_name"],
                username=options["username"],
                email=options["email"],
                password=self._password(options),
                first_name=options["first_name"],
                last_name=options["last_name"],
            )
        except ValidationError as error:
            raise CommandError(_describe(error)) from error
        self.stdout.write(
            self.style.SUCCESS(
                f"Created site {admin.home_site} and District Administrator {admin.username}."
            )
        )
        if options["demo"]:
            accounts.load_demo_data(stdout=self.stdout)
            self.stdout.write(self.style.SUCCESS(accounts.DEMO_LOADED))

    def _recover(self, options) -> None:
        try:
            admin = services.district_administrator_recover(
                username=options["username"],
                email=options["email"] or "",
                password=self._password(options),
                reset_two_factor=options["reset_two_factor"],
            )
        except ValidationError as error:
            raise CommandError(_describe(error)) from error
        two_factor = " (and sets up two-factor sign-in anew)" if options["reset_two_factor"] else ""
        self.stdout.write(
            self.style.SUCCESS(RECOVERED.format(username=admin.username, two_factor=two_factor))
        )

    def _password(self, options) -> str:
        password = options["password"] or os.environ.get(PASSWORD_ENV)
        if password:
            return password
        if not sys.stdin.isatty():
            raise CommandError(NO_PASSWORD)
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password (again): "):
            raise CommandError(PASSWORDS_DIFFER)
        return password


def _describe(error: ValidationError) -> str:
    if not hasattr(error, "error_dict"):
        return " ".join(error.messages)
    return "; ".join(
        " ".join(messages) if field == NON_FIELD_ERRORS else f"{field}: {' '.join(messages)}"
        for field, messages in error.message_dict.items()
    )
