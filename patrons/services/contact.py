"""The Contact tab's one write: a patron's typed emails, addresses, phones and contacts
(parents, guardians) and their notice settings, saved together under the record's version
check.

The rows passed in are the whole wanted state: rows of the patron that are not passed are
deleted, rows with an id are updated, rows without one are created. Everything is checked
before anything is written, and only rows that changed are written.
"""

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models, transaction
from django.utils import timezone

from patrons.models import (
    Guardian,
    Patron,
    PatronAddress,
    PatronEmail,
    PatronPhone,
    email_required_message,
)
from patrons.services.patron import StaleEdit, _acting, _changed_since, _locked
from security import log, policy, preferences

__all__ = [
    "CHANNEL_NEEDS_EMAIL",
    "CHANNEL_SWITCHED",
    "CHANNEL_TO_EMAIL",
    "CHANNEL_TO_MAIL",
    "CONTACT_FIELDS",
    "DUPLICATE_EMAIL",
    "INVALID_PHONE",
    "ONE_PREFERRED",
    "ONE_PRIMARY",
    "OWN_ACCOUNT_FIELDS",
    "UNKNOWN_ROW",
    "AddressEntry",
    "ContactSaved",
    "EmailEntry",
    "GuardianEntry",
    "PhoneEntry",
    "patron_contact_update",
    "validate_phone",
]

CHANNEL_TO_MAIL = "No email left: notices will go by mail."
CHANNEL_TO_EMAIL = "An email was added: notices will go by email."
CHANNEL_SWITCHED = {Patron.Channel.MAIL: CHANNEL_TO_MAIL, Patron.Channel.EMAIL: CHANNEL_TO_EMAIL}
CHANNEL_NEEDS_EMAIL = "Notices can go by email only to a patron with an email address."
DUPLICATE_EMAIL = "This patron already has this email address."
INVALID_PHONE = "Enter a phone number of 6 to 20 digits; spaces, +, -, and parentheses are allowed."
ONE_PRIMARY = "Only one email can be the primary one."
ONE_PREFERRED = "Only one {noun} can be the preferred one."
UNKNOWN_ROW = "A {noun} you edited is no longer on this record: reload the tab."

CONTACT_FIELDS = frozenset(
    {
        "communication_channel",
        "additional_email",
        "language",
        "notify_overdue",
        "notify_hold_ready",
        "notify_fines",
    }
)

# What a patron changes on their own account (/me/): not the additional email or the notice
# opt-ins, and not their contacts (guardians), which stay with the library staff.
OWN_ACCOUNT_FIELDS = frozenset({"communication_channel", "language", "keep_history"})
_FIELDS_BY_ACTION = {"patrons.edit_contact": CONTACT_FIELDS, policy.OWN_ACCOUNT: OWN_ACCOUNT_FIELDS}

_PHONE_CHARACTERS = re.compile(r"[0-9 +()\-]+")


def validate_phone(number: str) -> None:
    """Digits with the usual separators; 6 to 20 digits (local numbers to international)."""
    digits = sum(character.isdigit() for character in number)
    if not _PHONE_CHARACTERS.fullmatch(number) or not 6 <= digits <= 20:
        raise ValidationError(INVALID_PHONE, code="invalid_phone")


@dataclass(frozen=True)
class EmailEntry:
    address: str
    kind: str = PatronEmail.Kind.PERSONAL
    is_primary: bool = False
    is_undeliverable: bool = False
    id: int | None = None


@dataclass(frozen=True)
class AddressEntry:
    street: str
    kind: str = PatronAddress.Kind.HOME
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""
    is_preferred: bool = False
    id: int | None = None


@dataclass(frozen=True)
class PhoneEntry:
    number: str
    kind: str = PatronPhone.Kind.MOBILE
    is_preferred: bool = False
    id: int | None = None


@dataclass(frozen=True)
class GuardianEntry:
    name: str
    relationship: str = ""
    email: str = ""
    phone: str = ""
    receives_notices: bool = True
    id: int | None = None


@dataclass(frozen=True)
class _Part:
    """One kind of contact row: its model, the error key, and its one-of flag if any."""

    key: str
    model: type[models.Model]
    entry: type
    noun: str
    flag: str | None

    @property
    def names(self) -> list[str]:
        """The row fields an entry sets."""
        return [f.name for f in dataclasses.fields(self.entry) if f.name != "id"]


_EMAILS = _Part("emails", PatronEmail, EmailEntry, "email", "is_primary")
_ADDRESSES = _Part("addresses", PatronAddress, AddressEntry, "address", "is_preferred")
_PHONES = _Part("phones", PatronPhone, PhoneEntry, "phone", "is_preferred")
_GUARDIANS = _Part("guardians", Guardian, GuardianEntry, "contact", None)


@dataclass(frozen=True)
class ContactSaved:
    patron: Patron
    channel_switched_to: str | None
    """The channel the email/mail rule chose instead of the one asked for, if it did."""


@transaction.atomic
def patron_contact_update(
    *,
    actor: Patron,
    patron: Patron,
    version: int,
    fields: dict,
    emails: Sequence[EmailEntry],
    addresses: Sequence[AddressEntry],
    phones: Sequence[PhoneEntry],
    guardians: Sequence[GuardianEntry] | None = None,
    action: str = "patrons.edit_contact",
) -> ContactSaved:
    """Save the Contact tab as a whole, or nothing.

    `action` is the staff tab's, or policy.OWN_ACCOUNT for a patron's own page: then only
    OWN_ACCOUNT_FIELDS change, the contacts are left as they are, and the bounce flag of
    each email stays the library's. `guardians=None` leaves the contacts as they are.

    Refused (StaleEdit) when the record was saved since the editor loaded `version`; any
    save raises the version so that other editors of the record are refused in turn.
    Rules: one primary email when there is any (the first otherwise), and Patron.email
    follows it; one preferred address and phone likewise; notices go by mail when the last
    email goes and by email when a first one comes (RERO), unless the operator chose the
    channel in this same save; Librarian (2) and above keep at least one email; changing
    the address of an undeliverable email clears the flag.
    """
    policy.require(actor, action, patron)
    own_account = action == policy.OWN_ACCOUNT
    if unknown := set(fields) - _FIELDS_BY_ACTION[action]:
        raise ValueError(f"Not contact fields for {action}: {sorted(unknown)}")
    if own_account and guardians is not None:
        raise ValueError("Contacts are changed by the library staff only.")
    current = _locked(patron)
    if current.version != version:
        raise StaleEdit(current=current, changed_fields=_changed_since(current, version))
    before = log.snapshot(current, [*sorted(_FIELDS_BY_ACTION[action]), "email"])
    errors: dict[str, list] = {}
    given = {
        _EMAILS: _normalized_emails(emails, errors),
        _ADDRESSES: list(addresses),
        _PHONES: list(phones),
    }
    if guardians is not None:
        given[_GUARDIANS] = list(guardians)
    existing = {part: _rows_of(part, current) for part in given}
    if own_account:
        given[_EMAILS] = [_bounce_kept(entry, existing[_EMAILS]) for entry in given[_EMAILS]]
    wanted = {part: _settled(part, given[part], existing[part], errors) for part in given}
    had_email = bool(current.email or existing[_EMAILS])
    switched = _apply_fields(current, fields, had_email, wanted[_EMAILS], errors)
    if not errors:
        plans = [_plan(part, current, actor, wanted[part], existing[part]) for part in wanted]
        for plan in plans:
            plan.validate(errors)
    if errors:
        raise ValidationError(errors)
    current.updated_by = actor
    current.version += 1
    with _acting(actor):
        current.full_clean()
        current.save()
        for plan in plans:
            plan.write()
    changed = {**log.changes(before, current), "rows": _row_changes(plans)}
    log.record(log.Kind.PATRON_CHANGED, operator=actor, patron=current, details=changed)
    return ContactSaved(patron=current, channel_switched_to=switched)


def _row_changes(plans: list["_Plan"]) -> dict[str, dict[str, int]]:
    """For the operator log: how many rows of each kind were added, changed and removed."""
    counts = {}
    for plan in plans:
        done = {"added": len(plan.new), "changed": len(plan.changed), "removed": len(plan.gone)}
        if any(done.values()):
            counts[plan.part.key] = {what: count for what, count in done.items() if count}
    return counts


def _normalized_emails(emails: Sequence[EmailEntry], errors: dict) -> list[EmailEntry]:
    normalized, seen = [], set()
    for entry in emails:
        address = Patron.objects.normalize_email(entry.address.strip())
        try:
            validate_email(address)
        except ValidationError as error:
            _add(errors, _EMAILS.key, f"{address}: {error.messages[0]}")
        if address.lower() in seen:
            _add(errors, _EMAILS.key, f"{address}: {DUPLICATE_EMAIL}")
        seen.add(address.lower())
        normalized.append(replace(entry, address=address))
    return normalized


def _rows_of(part: _Part, patron: Patron) -> dict[int, models.Model]:
    return {row.pk: row for row in part.model.objects.filter(patron=patron)}


def _settled(part: _Part, entries: list, existing: dict, errors: dict) -> list:
    """Entries checked against the patron's rows, with the one-of flag decided."""
    if any(entry.id is not None and entry.id not in existing for entry in entries):
        _add(errors, part.key, UNKNOWN_ROW.format(noun=part.noun))
        return entries
    if part is _EMAILS:
        entries = [_undeliverable_cleared(entry, existing) for entry in entries]
    if part is _PHONES:
        for entry in entries:
            _check(errors, part.key, validate_phone, entry.number)
    if part is _GUARDIANS:
        for entry in entries:
            if entry.phone:
                _check(errors, part.key, validate_phone, entry.phone)
    return _one_flagged(part, entries, errors) if part.flag else entries


def _bounce_kept(entry: EmailEntry, existing: dict) -> EmailEntry:
    """Whether mail to an address bounced is the library's record, not the patron's."""
    row = existing.get(entry.id)
    return replace(entry, is_undeliverable=row is not None and row.is_undeliverable)


def _undeliverable_cleared(entry: EmailEntry, existing: dict) -> EmailEntry:
    """A corrected address is presumed deliverable until mail to it bounces again."""
    row = existing.get(entry.id)
    if row is not None and row.is_undeliverable and row.address != entry.address:
        return replace(entry, is_undeliverable=False)
    return entry


def _one_flagged(part: _Part, entries: list, errors: dict) -> list:
    flagged = [entry for entry in entries if getattr(entry, part.flag)]
    if len(flagged) > 1:
        message = ONE_PRIMARY if part is _EMAILS else ONE_PREFERRED.format(noun=part.noun)
        _add(errors, part.key, message)
    if entries and not flagged:
        entries = [replace(entries[0], **{part.flag: True}), *entries[1:]]
    return entries


def _apply_fields(
    patron: Patron, fields: dict, had_email: bool, emails: list[EmailEntry], errors: dict
) -> str | None:
    """Set the patron's contact fields and primary email; return the channel the rule chose
    when it differs from the one asked for."""
    asked = fields.get("communication_channel", patron.communication_channel)
    chosen_now = asked != patron.communication_channel
    if emails:
        channel = Patron.Channel.EMAIL if not had_email and not chosen_now else asked
    else:
        channel = Patron.Channel.MAIL
        if preferences.email_required(patron.level):
            _add(errors, _EMAILS.key, email_required_message())
        elif asked == Patron.Channel.EMAIL and chosen_now and not had_email:
            _add(errors, "communication_channel", CHANNEL_NEEDS_EMAIL)
    for name, value in fields.items():
        setattr(patron, name, value)
    patron.communication_channel = channel
    patron.email = next((entry.address for entry in emails if entry.is_primary), "")
    return channel if channel != asked else None


@dataclass
class _Plan:
    part: _Part
    gone: list[int]
    changed: list[models.Model]
    new: list[models.Model]

    def validate(self, errors: dict) -> None:
        """Field rules of the model (lengths, choices, required) on the rows to write."""
        # The cross-row rules (one primary, no duplicate) were checked on the entries, and
        # the foreign keys are set here, not typed: checking them would cost a query a row.
        exclude = {"patron", "created_by", "updated_by"}
        checks = {"exclude": exclude, "validate_unique": False, "validate_constraints": False}
        for row in self.changed + self.new:
            try:
                row.full_clean(**checks)
            except ValidationError as error:
                for name, messages in error.message_dict.items():
                    label = str(self.part.model._meta.get_field(name).verbose_name)
                    for message in messages:
                        _add(errors, self.part.key, f"{label.capitalize()}: {message}")

    def write(self) -> None:
        """A few statements whatever the number of rows.

        Rows losing the flag are updated before the row gaining it: PostgreSQL checks the
        one-primary index row by row, even within one statement.
        """
        model, flag = self.part.model, self.part.flag
        if self.gone:
            model.objects.filter(pk__in=self.gone).delete()
        gaining = [row for row in self.changed if flag and getattr(row, flag)]
        losing = [row for row in self.changed if row not in gaining]
        for batch in (losing, gaining):
            if batch:
                model.objects.bulk_update(batch, [*self.part.names, "updated_by", "updated_at"])
        if self.new:
            model.objects.bulk_create(self.new)


def _plan(part: _Part, patron: Patron, actor: Patron, entries: list, existing: dict) -> _Plan:
    """What to delete, update (only rows that changed) and create."""
    kept = {entry.id for entry in entries}
    plan = _Plan(part, gone=[pk for pk in existing if pk not in kept], changed=[], new=[])
    now = timezone.now()
    for entry in entries:
        values = {name: getattr(entry, name) for name in part.names}
        if entry.id is None:
            row = part.model(patron=patron, created_by=actor, updated_by=actor, **values)
            plan.new.append(row)
            continue
        row = existing[entry.id]
        if any(getattr(row, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_by, row.updated_at = actor, now
            plan.changed.append(row)
    return plan


def _check(errors: dict, key: str, validator, value) -> None:
    try:
        validator(value)
    except ValidationError as error:
        _add(errors, key, f"{value}: {error.messages[0]}")


def _add(errors: dict, key: str, message: str) -> None:
    errors.setdefault(key, []).append(message)
