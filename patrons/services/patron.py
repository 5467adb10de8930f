"""Operations that change a patron's record and access. Each checks the policy first (so
commands and imports are checked too), validates, saves, and records the acting operator."""

import re
from collections.abc import Iterable

import pghistory
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from libstaff.queries import violated_constraint
from patrons import deletion
from patrons.models import Patron, PatronEmail
from patrons.models.patron import BARCODE_TAKEN, USERNAME_TAKEN, USERNAME_UNIQUE
from patrons.services.generic import check_generic
from security import log, policy, preferences
from security.models import Level, SecurityGroup
from security.services import grants_review_on_group_change
from sites.models import Site

__all__ = [
    "HOME_SITE_ACCESS_NOT_YOURS",
    "LAST_DISTRICT_ADMIN",
    "LAST_DISTRICT_ADMIN_USERNAME",
    "PIN_FORMAT",
    "PROTECTED_PATRON",
    "SITE_OUT_OF_SCOPE",
    "STALE_EDIT",
    "StaleEdit",
    "patron_assign_group",
    "patron_create",
    "patron_delete",
    "patron_set_password",
    "patron_set_site_access",
    "patron_set_status",
    "patron_update",
    "patron_update_access",
    "record_first_email",
]

LAST_DISTRICT_ADMIN = (
    "This is the last active District Administrator: make another District Administrator "
    "first, or nobody could administer the district."
)
LAST_DISTRICT_ADMIN_USERNAME = (
    "This is the last District Administrator who can sign in, and signing in needs a "
    "username: make another District Administrator first."
)
PROTECTED_PATRON = "This patron is protected and cannot be deleted."
PIN_FORMAT = "The PIN must be exactly 4 digits."
_PIN = re.compile(r"[0-9]{4}")
SITE_OUT_OF_SCOPE = "You can only give access to sites within your own site access."
HOME_SITE_ACCESS_NOT_YOURS = (
    "An operator's home site joins their site access, and you cannot give access to {site}: "
    "ask someone who edits their Access tab to change the home site."
)
STALE_EDIT = (
    "{who} changed this record at {when} while you were editing it ({fields}). Your changes "
    "were not saved: review theirs, then make yours again."
)
# What changed when no field of the record itself did (only rows the version also covers).
UNLISTED_CHANGES = "contact details, site access or password"
# What the Access tab changes, for the operator log.
_ACCESS_FIELDS = ("security_group", "username", "must_change_password", "password", "pin")


class StaleEdit(Exception):
    """The record changed after the editor loaded it; nothing was saved."""

    def __init__(self, *, current: Patron, changed_fields: list[str]):
        self.current = current
        self.changed_fields = changed_fields
        who = current.updated_by.display_name if current.updated_by else "Someone"
        when = timezone.localtime(current.updated_at).strftime("%H:%M")
        labels = [str(Patron._meta.get_field(name).verbose_name) for name in changed_fields]
        super().__init__(
            STALE_EDIT.format(who=who, when=when, fields=", ".join(labels) or UNLISTED_CHANGES)
        )


def _acting(actor):
    return pghistory.context(user=actor.pk if actor is not None else None)


@transaction.atomic
def patron_create(
    *,
    actor: Patron,
    home_site: Site,
    last_name: str,
    security_group: SecurityGroup | None = None,
    password: str | None = None,
    site_access: Iterable[Site] = (),
    **fields,
) -> Patron:
    """Register a patron at `home_site`; the group defaults to Patron (5)."""
    policy.require(actor, "patrons.add_patron", home_site)
    default_group = preferences.default_group()
    group = security_group or default_group
    patron = Patron(
        home_site=home_site,
        last_name=last_name,
        security_group=group,
        created_by=actor,
        updated_by=actor,
        **fields,
    )
    if group != default_group:
        policy.require_assign_group(actor, patron, group)
    _set_password(patron, password)
    with _acting(actor):
        patron.full_clean()
        _insert(patron)
        if site_access:
            _check_sites_grantable(actor, site_access)
            patron.site_access.set(site_access)
        _ensure_home_site_access(actor, patron)
        check_generic(patron, marking=True)
        record_first_email(patron)
    log.record(
        log.Kind.PATRON_CREATED, operator=actor, patron=patron, details={"group": str(group)}
    )
    return patron


# PostgreSQL's name for the UNIQUE of Patron.barcode (unique=True, made by the migrations).
BARCODE_UNIQUE = "patrons_patron_barcode_key"


def _insert(patron: Patron) -> None:
    """Save a new patron, the unique constraints having the last word: two registrations of
    one barcode (or username) at the same moment both pass every check before them, and the
    later one gets the forms' field error, not a failure. The savepoint keeps the
    transaction usable."""
    try:
        with transaction.atomic():
            patron.save()
    except IntegrityError as error:
        field, message = _UNIQUE_FIELDS.get(violated_constraint(error), (None, ""))
        if field is None:
            raise
        raise ValidationError({field: ValidationError(message, code="unique")}) from error


_UNIQUE_FIELDS = {
    BARCODE_UNIQUE: ("barcode", BARCODE_TAKEN),
    USERNAME_UNIQUE: ("username", USERNAME_TAKEN),
}


def record_first_email(patron: Patron) -> None:
    """A new patron's email becomes their primary typed email (the Contact tab's rows;
    Patron.email mirrors the primary one)."""
    if patron.email:
        PatronEmail.objects.create(
            patron=patron,
            address=patron.email,
            is_primary=True,
            created_by=patron.created_by,
            updated_by=patron.created_by,
        )


@transaction.atomic
def patron_update(*, actor: Patron, patron: Patron, action: str, version: int, **fields) -> Patron:
    """Save the fields of one tab, refusing a stale edit.

    `version` is the one the editor loaded: when someone saved since, StaleEdit names what
    they changed and nothing is written (two operators never silently overwrite each other).
    """
    policy.require(actor, action, patron)
    current = _locked(patron)
    _check_version(current, version)
    if fields.get("status", current.status) != Patron.Status.ACTIVE:
        _ensure_not_last_district_admin(current)
    old_photo = current.photo
    before = log.snapshot(current, fields)
    for name, value in fields.items():
        setattr(current, name, value)
    # The record as it will be must still be the actor's to edit (a new home site in scope).
    policy.require(actor, action, current)
    current.updated_by = actor
    current.version += 1
    with _acting(actor):
        current.full_clean()
        current.save()
        _ensure_home_site_access(actor, current)
        if "is_generic" in fields:
            check_generic(current, marking=True)
    _log_changed(actor, current, before)
    if "photo" in fields and old_photo and old_photo.name != current.photo.name:
        _delete_file_on_commit(old_photo)
    return current


@transaction.atomic
def patron_update_access(
    *,
    actor: Patron,
    patron: Patron,
    version: int,
    security_group: SecurityGroup,
    username: str | None,
    sites: Iterable[Site],
    must_change_password: bool,
    password: str | None = None,
    pin: str | None = None,
    clear_pin: bool = False,
    keep_grants: Iterable[int] = (),
    keep_delegations: Iterable[int] = (),
) -> Patron:
    """The Access tab in one version-checked, all-or-nothing save: the group (rule 4, the
    last District Administrator; a new group revokes the explicit grants not in
    `keep_grants` and the group delegations not in `keep_delegations`), username,
    password, PIN (stored hashed), site access (rule 5, sites out of the actor's reach
    kept) and rule 6."""
    current = _locked(patron)
    policy.require(actor, "patrons.edit_access", current)
    _check_version(current, version)
    before = log.snapshot(current, (*_ACCESS_FIELDS, "site_access"))
    group_changed = security_group.pk != current.security_group_id
    if group_changed:
        _change_group(actor, current, security_group)
    if current.username and not username:
        _ensure_not_last_district_admin(current, {"username": LAST_DISTRICT_ADMIN_USERNAME})
    current.username = username or None
    current.must_change_password = must_change_password
    _set_new_password(current, password)
    _set_pin(current, pin, clear=clear_pin)
    current.updated_by = actor
    current.version += 1
    with _acting(actor):
        current.full_clean()
        current.save()
        _apply_site_access(actor, current, sites)
        _ensure_home_site_access(actor, current)
        check_generic(current, marking=False)
        if group_changed:
            grants_review_on_group_change(
                actor=actor,
                operator=current,
                keep=keep_grants,
                keep_delegations=keep_delegations,
            )
    _log_changed(actor, current, before)
    policy.forget(patron)
    return current


def _change_group(actor: Patron, patron: Patron, group: SecurityGroup) -> None:
    """Call with the patron from _locked()."""
    policy.require_assign_group(actor, patron, group)
    if group.level != Level.DISTRICT_ADMINISTRATOR:
        _ensure_not_last_district_admin(patron)
    patron.security_group = group


def _set_new_password(patron: Patron, password: str | None) -> None:
    if password:
        validate_password(password, patron)
        patron.set_password(password)


def _set_pin(patron: Patron, pin: str | None, *, clear: bool) -> None:
    if pin:
        if not _PIN.fullmatch(pin):
            raise ValidationError({"pin": PIN_FORMAT})
        patron.pin = make_password(pin)
    elif clear:
        patron.pin = ""


def _check_version(current: Patron, version: int) -> None:
    if current.version != version:
        raise StaleEdit(current=current, changed_fields=_changed_since(current, version))


def _changed_since(current: Patron, version: int) -> list[str]:
    """Fields whose value differs between the history snapshot at `version` and now."""
    seen = current.events.filter(version=version).order_by("-pgh_id").first()
    if seen is None:
        return []
    skip = {"version", "updated_by", "created_at", "created_by"}
    return [
        field.name
        for field in Patron._meta.concrete_fields
        if field.name not in skip
        and hasattr(seen, field.attname)
        and getattr(seen, field.attname) != getattr(current, field.attname)
    ]


@transaction.atomic
def patron_assign_group(
    *,
    actor: Patron,
    patron: Patron,
    group: SecurityGroup,
    keep_grants: Iterable[int] = (),
    keep_delegations: Iterable[int] = (),
) -> Patron:
    """Rule 4, and rule 3's last District Administrator. A new group revokes the patron's
    explicit grants not in `keep_grants` and group delegations not in `keep_delegations`."""
    policy.require_assign_group(actor, patron, group)
    patron = _locked(patron)
    before = log.snapshot(patron, ["security_group"])
    if group.level != Level.DISTRICT_ADMINISTRATOR:
        _ensure_not_last_district_admin(patron)
    group_changed = group.pk != patron.security_group_id
    patron.security_group = group
    patron.updated_by = actor
    with _acting(actor):
        patron.full_clean()
        patron.version += 1
        patron.save()
        _ensure_home_site_access(actor, patron)
        check_generic(patron, marking=False)
        if group_changed:
            grants_review_on_group_change(
                actor=actor,
                operator=patron,
                keep=keep_grants,
                keep_delegations=keep_delegations,
            )
    _log_changed(actor, patron, before)
    return patron


@transaction.atomic
def patron_set_site_access(*, actor: Patron, patron: Patron, sites: Iterable[Site]) -> Patron:
    """Give access only to sites within one's own; sites outside it that the patron
    already has are kept (the operator cannot see them, so cannot mean to remove them)."""
    policy.require(actor, "patrons.edit_access", patron)
    before = log.snapshot(patron, ["site_access"])
    with _acting(actor):
        _apply_site_access(actor, patron, sites)
        _ensure_home_site_access(actor, patron)
        check_generic(patron, marking=False)
        Patron.objects.filter(pk=patron.pk).update(updated_by=actor)
    _log_changed(actor, patron, before)
    policy.forget(patron)
    return patron


@transaction.atomic
def patron_set_status(*, actor: Patron, patron: Patron, status: str) -> Patron:
    policy.require(actor, "patrons.edit_personal", patron)
    patron = _locked(patron)
    before = log.snapshot(patron, ["status"])
    if status != Patron.Status.ACTIVE:
        _ensure_not_last_district_admin(patron)
    patron.status = status
    patron.updated_by = actor
    with _acting(actor):
        patron.full_clean()
        patron.version += 1
        patron.save()
    _log_changed(actor, patron, before)
    return patron


@transaction.atomic
def patron_set_password(
    *, actor: Patron, patron: Patron, password: str, must_change: bool = False
) -> Patron:
    policy.require(actor, "patrons.edit_access", patron)
    validate_password(password, patron)
    before = log.snapshot(patron, ["password", "must_change_password"])
    patron.set_password(password)
    patron.must_change_password = must_change
    patron.updated_by = actor
    with _acting(actor):
        patron.save(update_fields=["password", "must_change_password", "updated_by", "updated_at"])
    _log_changed(actor, patron, before)
    return patron


@transaction.atomic
def patron_delete(*, actor: Patron, patron: Patron) -> None:
    policy.require(actor, "patrons.delete_patron", patron)
    patron = _locked(patron)
    if patron.is_protected:
        raise ValidationError(PROTECTED_PATRON)
    _ensure_not_last_district_admin(patron)
    _ensure_nothing_against_deletion(patron)
    # Logged before the delete, which empties the entry's patron link: the name stays.
    deleted = {"name": patron.display_name, "barcode": patron.barcode, "username": patron.username}
    log.record(log.Kind.PATRON_DELETED, operator=actor, patron=patron, details=deleted)
    files = [attachment.file for attachment in patron.attachments.all()]
    with _acting(actor):
        patron.delete()
    if patron.photo:
        files.append(patron.photo)
    for file in files:
        _delete_file_on_commit(file)


def _ensure_nothing_against_deletion(patron: Patron) -> None:
    """What other apps registered against deleting (a balance owed either way), asked with
    the patron's row locked: their changes to the patron's rows wait for the lock, so no
    fee added meanwhile is deleted unseen."""
    refusals = deletion.refusals(patron)
    if refusals:
        raise ValidationError([refusal.message for refusal in refusals])


def _log_changed(actor: Patron, patron: Patron, before: dict) -> None:
    """One operator log line per change, naming what changed since `before` (log.snapshot)."""
    log.record(
        log.Kind.PATRON_CHANGED, operator=actor, patron=patron, details=log.changes(before, patron)
    )


def _delete_file_on_commit(file) -> None:
    """Photos and attachments are personal data: replaced or deleted, they leave the disk
    too, once the change is committed."""
    storage, name = file.storage, file.name
    transaction.on_commit(lambda: storage.delete(name))


def _locked(patron: Patron) -> Patron:
    """Re-read the row under a lock so two operators cannot race past a rule."""
    _lock_district_administrators()
    return _locking().get(pk=patron.pk)


def _locked_many(ids) -> list[Patron]:
    """Many rows under a lock (a batch, a purge), in id order, as `_locked` locks one."""
    _lock_district_administrators()
    return list(_locking().filter(pk__in=ids).order_by("pk"))


def _lock_district_administrators() -> None:
    """Active District Administrators are locked first, always in the same order: two
    concurrent demotions then neither deadlock nor both pass the last-administrator check."""
    list(
        Patron.objects.active_district_administrators()
        .select_for_update(of=("self",))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _locking():
    return Patron.objects.select_for_update(of=("self",)).select_related("security_group")


def _ensure_not_last_district_admin(patron: Patron, message=LAST_DISTRICT_ADMIN) -> None:
    """Before a change that stops `patron` administering the district (demotion,
    deactivation, deletion, no username): another District Administrator must be able to
    sign in, or nobody could. Call with the patron from _locked(): the District
    Administrators are locked."""
    if is_last_district_admin(patron):
        raise ValidationError(message)


def is_last_district_admin(patron: Patron) -> bool:
    """An active District Administrator with no other District Administrator who can sign
    in: what the services refuse to demote, deactivate, delete or merge away."""
    if not (patron.is_active and patron.is_district_administrator):
        return False
    others = Patron.objects.active_district_administrators().able_to_sign_in()
    return not others.exclude(pk=patron.pk).exists()


def _ensure_home_site_access(actor: Patron, patron: Patron) -> None:
    """Rule 6: Library Aide (4) and above always have their home site in their access. The
    rule adds an operator's site only for an actor who may give access to it: otherwise a
    change of home site would be a way around the Access tab, and it is refused."""
    if not patron.needs_home_site_access:
        return
    if patron.site_access.filter(pk=patron.home_site_id).exists():
        return
    if patron.is_operator and not policy.can(actor, policy.GRANT_SITE_ACCESS, patron.home_site):
        raise ValidationError(
            {"home_site": HOME_SITE_ACCESS_NOT_YOURS.format(site=patron.home_site)}
        )
    patron.site_access.add(patron.home_site)


def _apply_site_access(actor: Patron, patron: Patron, sites: Iterable[Site]) -> None:
    """Sites the actor cannot grant are neither added nor removed."""
    wanted = set(sites)
    current = set(patron.site_access.all())
    _check_sites_grantable(actor, wanted - current)
    out_of_reach = {
        site for site in current if not policy.can(actor, policy.GRANT_SITE_ACCESS, site)
    }
    patron.site_access.set(wanted | out_of_reach)


def _check_sites_grantable(actor: Patron, sites: Iterable[Site]) -> None:
    for site in sites:
        if not policy.can(actor, policy.GRANT_SITE_ACCESS, site):
            raise PermissionDenied(SITE_OUT_OF_SCOPE)


def _set_password(patron: Patron, password: str | None) -> None:
    if password:
        validate_password(password, patron)
        patron.set_password(password)
    else:
        patron.set_unusable_password()
