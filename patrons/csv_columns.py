"""The patron CSV format, one for import and export: export a list, import the file, and
every row is unchanged.

A column is a Patron field. References are written by their code (home site, patron type)
or name (security group); dates as YYYY-MM-DD; yes/no for flags; an empty cell is an empty
value. `cell()` gives the text a patron's field is written as, `parse()` reads it back.
"""

import datetime
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from patrons.models import Patron

TEXT, DATE, CHOICE, REFERENCE, FLAG, EMAIL = "text", "date", "choice", "reference", "flag", "email"
YES, NO = "yes", "no"
_TRUE = {"yes", "y", "true", "1"}
_FALSE = {"no", "n", "false", "0", ""}

BAD_DATE = "{value!r} is not a date: write it as YYYY-MM-DD."
BAD_EMAIL = "{value!r} is not an email address."
BAD_FLAG = "{value!r} is not yes or no."
BAD_CHOICE = "{value!r} is not one of: {choices}."
TOO_LONG = "at most {limit} characters ({length} given)."


@dataclass(frozen=True)
class Column:
    name: str  # the header, and the Patron field
    kind: str = TEXT
    help: str = ""

    @property
    def field(self):
        return Patron._meta.get_field(self.name)

    @property
    def label(self) -> str:
        return str(self.field.verbose_name)

    @property
    def attname(self) -> str:
        return self.field.attname

    def parse(self, text: str):
        """The field's value for a cell, or ValidationError with the reason. References
        come back as the text: the importer resolves them against its own lookups."""
        text = text.strip()
        if not text and not self.field.blank and self.field.has_default():
            return self.field.get_default()  # an empty language is the default one
        if self.kind == DATE:
            return _parse_date(text)
        if self.kind == FLAG:
            return _parse_flag(text)
        if self.kind == CHOICE:
            return _parse_choice(self.field, text)
        limit = getattr(self.field, "max_length", None)
        if limit and len(text) > limit:
            raise ValidationError(TOO_LONG.format(limit=limit, length=len(text)))
        if self.kind == EMAIL and text:
            try:
                validate_email(text)
            except ValidationError:
                raise ValidationError(BAD_EMAIL.format(value=text)) from None
            return Patron.objects.normalize_email(text)
        return text


def _parse_date(text: str) -> datetime.date | None:
    if not text:
        return None
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise ValidationError(BAD_DATE.format(value=text[:40])) from None


def _parse_flag(text: str) -> bool:
    folded = text.lower()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise ValidationError(BAD_FLAG.format(value=text[:40]))


def _parse_choice(field, text: str) -> str:
    """A choice by its value or its label, in any case; empty is the field's default."""
    if not text:
        return field.get_default()
    folded = text.lower()
    for value, label in field.choices:
        if folded in (str(value).lower(), str(label).lower()):
            return value
    choices = ", ".join(str(value) for value, _label in field.choices)
    raise ValidationError(BAD_CHOICE.format(value=text[:40], choices=choices))


COLUMNS: tuple[Column, ...] = (
    Column("barcode", help="Unique; up to 15 characters."),
    Column("admin_system_id", help="The id in the school's or council's own system."),
    Column("username", help="Unique, ignoring case; empty: cannot sign in."),
    Column("title"),
    Column("first_name"),
    Column("middle_name"),
    Column("last_name", help="Required."),
    Column("preferred_first_name"),
    Column("preferred_last_name"),
    Column("birth_date", DATE, "YYYY-MM-DD."),
    Column("gender"),
    Column("patron_type", REFERENCE, "A patron type's code (Preferences, Patron types)."),
    Column("cohort"),
    Column("form_class"),
    Column("home_site", REFERENCE, "A site's code, such as AMS. Required for new patrons."),
    Column("status", CHOICE, "active, card_lost, suspended, transferred, inactive or other."),
    Column("expiry_date", DATE, "YYYY-MM-DD."),
    Column("purge_date", DATE, "YYYY-MM-DD."),
    Column("email", EMAIL, "The primary email; required for Librarians and above."),
    Column("communication_channel", CHOICE, "email or mail."),
    Column("language", help="A language code such as en."),
    Column("security_group", REFERENCE, "A group's name; empty: Patron. Below your own level."),
    Column("is_staff_member", FLAG, "yes or no."),
)
BY_NAME = {column.name: column for column in COLUMNS}
HEADER = [column.name for column in COLUMNS]
# What a row may be matched on (unique per patron, or as good as: admin ids are checked).
MATCH_KEYS = ("barcode", "admin_system_id", "username")
# Where a reference column finds its rows: the model's field that the cell names.
REFERENCE_KEYS = {"home_site": "code", "patron_type": "code", "security_group": "name"}


def header_key(text: str) -> str:
    """A header cell as a column name: case, spaces and hyphens do not matter."""
    return text.strip().lstrip("\ufeff").lower().replace(" ", "_").replace("-", "_")


def cell(value, column: Column) -> str:
    """How a field's value is written (the reverse of Column.parse)."""
    if value is None:
        return ""
    if column.kind == FLAG:
        return YES if value else NO
    if column.kind == DATE:
        return value.isoformat()
    return str(value)
