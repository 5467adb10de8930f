"""Merging two records of one person: the survivor keeps its access (group, username,
password, site access) and takes, field by field, the personal and contact values chosen;
every row of the merged-away record moves to it; then the merged-away record is deleted.
All of it in one transaction, or nothing.

Rows with a uniqueness rule are merged, not copied: a statistical category the survivor has
already (same category and owner site), an email address it has already, a proxy link it
has already or one between the two records are dropped. The survivor's primary email and
preferred address and phone stay so (unless the email chosen is the other record's).

Other apps move their own rows through patrons.merging (the fines app: fees with their
ledger, receipts, the balance summed again). The History tab finds a sub-record's events
by their `patron` column: those of the moved rows are re-pointed to the survivor. The
merged-away record's own events stay under its id (its values and the survivor's would
otherwise read as changes of one record); the log entry names it.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone

from patrons import merging
from patrons.models import (
    Attachment,
    Block,
    Guardian,
    Identifier,
    IdentifierType,
    Note,
    Patron,
    PatronAddress,
    PatronEmail,
    PatronPhone,
    PatronStatistic,
    ProgramMeasure,
    ProxyLink,
)
from patrons.services.patron import (
    _acting,
    _check_version,
    _delete_file_on_commit,
    _ensure_home_site_access,
    _ensure_not_last_district_admin,
    _locked,
)
from security import log, policy

__all__ = [
    "MERGE_ACTION",
    "MERGE_BARCODE_TAKEN",
    "MERGE_CHOICE_UNKNOWN",
    "MERGE_FIELD_UNKNOWN",
    "MERGE_FIELDS",
    "MERGE_LAST_DISTRICT_ADMIN",
    "MERGE_OWN_RECORD",
    "MERGE_PROTECTED",
    "MERGE_ROWS_UNHANDLED",
    "MERGE_SAME_RECORD",
    "PREVIOUS_BARCODE",
    "patron_merge",
]

MERGE_ACTION = "patrons.merge_patron"
PREVIOUS_BARCODE = "previous_barcode"
KEEP_SURVIVOR, KEEP_MERGED = "survivor", "merged"

MERGE_SAME_RECORD = "Choose two different records: a record cannot be merged with itself."
MERGE_OWN_RECORD = "Your own record cannot be merged away: keep it as the surviving record."
MERGE_PROTECTED = "{name}'s record is protected: it can survive a merge, not be merged away."
MERGE_LAST_DISTRICT_ADMIN = (
    "{name} is the last active District Administrator: their record cannot be merged away."
)
MERGE_FIELD_UNKNOWN = "{field} is not a field a merge chooses."
MERGE_CHOICE_UNKNOWN = 'Choose "survivor" or "merged" for {field}.'
MERGE_BARCODE_TAKEN = (
    "The barcode {barcode} is already an identifier of another patron: it cannot become a "
    "previous barcode of the surviving record."
)
MERGE_ROWS_UNHANDLED = (
    "{count} {what} of the merged-away record would be lost: ask an administrator."
)
PREVIOUS_BARCODE_NAME = "Previous barcode"

# The fields a merge chooses between (the Personal and Contact tabs). Not access (group,
# username, password, PIN, site access: the survivor's stays), nor the flags that decide
# the record's handling (protected, generic account), nor bookkeeping.
MERGE_FIELDS = (
    "title", "first_name", "middle_name", "last_name", "preferred_first_name",
    "preferred_last_name", "birth_date", "gender", "barcode", "admin_system_id",
    "patron_type", "cohort", "form_class", "home_site", "status", "expiry_date",
    "purge_date", "is_staff_member", "photo",
    "email", "communication_channel", "language", "additional_email", "notify_overdue",
    "notify_hold_ready", "notify_fines", "keep_history",
)  # fmt: skip

# Sub-records that simply change hands.
_PLAIN_MOVES = {
    "notes": Note,
    "blocks": Block,
    "identifiers": Identifier,
    "programs": ProgramMeasure,
    "attachments": Attachment,
    "guardians": Guardian,
    "addresses": PatronAddress,
    "phones": PatronPhone,
}
# Rows of the merged-away account that belong to its access, dropped with it.
_ACCOUNT_ROWS = frozenset(
    {
        "admin.logentry",
        "otp_totp.totpdevice",
        "otp_static.staticdevice",
        "guardian.userobjectpermission",
        "security.grant",
        "security.groupdelegation",
        "patrons.importedvalues",
        "patrons.patron_site_access",
    }
)
_MOVED_ROWS = frozenset(
    {
        *(model._meta.label_lower for model in _PLAIN_MOVES.values()),
        "patrons.patronemail",
        "patrons.patronstatistic",
        "patrons.proxylink",
    }
)
# History: the tracked sub-records and their columns naming a patron.
_TRACKED = (
    *((model, "patron") for model in (*_PLAIN_MOVES.values(), PatronEmail, PatronStatistic)),
    (ProxyLink, "patron"),
    (ProxyLink, "proxy"),
)


@transaction.atomic
def patron_merge(
    *,
    actor: Patron,
    survivor: Patron,
    merged: Patron,
    choices: dict[str, str],
    survivor_version: int,
    merged_version: int,
) -> Patron:
    """Merge `merged` into `survivor`; `choices` maps a field of MERGE_FIELDS to "survivor"
    or "merged" (fields not named keep the survivor's value). Returns the survivor."""
    taken = _fields_taken(choices)
    if survivor.pk == merged.pk:
        raise ValidationError(MERGE_SAME_RECORD)
    survivor, merged = _lock_both(survivor, merged)
    policy.require(actor, MERGE_ACTION, survivor)
    policy.require(actor, MERGE_ACTION, merged)
    _check_version(survivor, survivor_version)
    _check_version(merged, merged_version)
    _ensure_may_merge_away(actor, merged)
    _ensure_no_rows_lost(merged)
    before = log.snapshot(survivor, taken)
    old_photo = survivor.photo
    with _acting(actor):
        _take_values(actor, survivor, merged, taken)
        moved = _move_rows(actor, survivor, merged)
        moved.update(merging.move(survivor, merged))
        moved["previous barcodes"] = _keep_previous_barcodes(actor, survivor, merged, before)
        if "email" in taken:
            _sync_primary_email(actor, survivor)
        moved["history events"] = _repoint_history(survivor, merged)
        _log_merge(actor, survivor, merged, moved, before)
        merged.delete()
    _drop_unused_photo(survivor, old_photo, merged)
    policy.forget(survivor)
    return survivor


def _fields_taken(choices: dict[str, str]) -> list[str]:
    """The fields whose value comes from the merged-away record; refuses unknown names and
    values (a crafted form gets a message, not a guess)."""
    errors = []
    for name, value in choices.items():
        if name not in MERGE_FIELDS:
            errors.append(MERGE_FIELD_UNKNOWN.format(field=name))
        elif value not in (KEEP_SURVIVOR, KEEP_MERGED):
            errors.append(MERGE_CHOICE_UNKNOWN.format(field=name))
    if errors:
        raise ValidationError(errors)
    return [name for name in MERGE_FIELDS if choices.get(name) == KEEP_MERGED]


def _lock_both(survivor: Patron, merged: Patron) -> tuple[Patron, Patron]:
    """Both rows under a lock, in id order: two merges of the same pair never deadlock."""
    locked = {patron.pk: _locked(patron) for patron in sorted((survivor, merged), key=_pk)}
    return locked[survivor.pk], locked[merged.pk]


def _pk(patron: Patron) -> int:
    return patron.pk


def _ensure_may_merge_away(actor: Patron, merged: Patron) -> None:
    if merged.pk == actor.pk:
        raise PermissionDenied(MERGE_OWN_RECORD)
    if merged.is_protected:
        raise ValidationError(MERGE_PROTECTED.format(name=merged.display_name))
    _ensure_not_last_district_admin(
        merged, MERGE_LAST_DISTRICT_ADMIN.format(name=merged.display_name)
    )


def _ensure_no_rows_lost(merged: Patron) -> None:
    """Fails closed: rows that an app keeps against a patron, that the merge does not
    know how to move and the deletion would cascade away, refuse the merge."""
    for relation in Patron._meta.get_fields(include_hidden=True):
        if not (relation.one_to_many or relation.one_to_one) or relation.concrete:
            continue
        label = relation.related_model._meta.label_lower
        handled = _ACCOUNT_ROWS | _MOVED_ROWS | merging.handled_models()
        if relation.on_delete is not models.CASCADE or label in handled:
            continue
        count = relation.related_model._base_manager.filter(
            **{relation.field.name: merged.pk}
        ).count()
        if count:
            what = relation.related_model._meta.verbose_name_plural
            raise ValidationError(MERGE_ROWS_UNHANDLED.format(count=count, what=what))


def _take_values(actor: Patron, survivor: Patron, merged: Patron, taken: list[str]) -> None:
    """The chosen values of the merged-away record, checked as the Personal tab checks
    them: the record as it will be must still be the actor's to merge (a home site in
    their scope), active unless another District Administrator remains, and valid."""
    if "barcode" in taken and merged.barcode:
        # The barcode is unique: the merged-away record lets go of it first.
        Patron.objects.filter(pk=merged.pk).update(barcode=None)
    for name in taken:
        field = Patron._meta.get_field(name)
        setattr(survivor, field.attname, getattr(merged, field.attname))
    policy.require(actor, MERGE_ACTION, survivor)
    if survivor.status != Patron.Status.ACTIVE:
        _ensure_not_last_district_admin(survivor)
    survivor.updated_by = actor
    survivor.version += 1
    survivor.full_clean()
    survivor.save()
    _ensure_home_site_access(actor, survivor)


def _move_rows(actor: Patron, survivor: Patron, merged: Patron) -> dict[str, int]:
    moved = {
        what: _reassign(model.objects.filter(patron=merged), actor, patron=survivor)
        for what, model in _PLAIN_MOVES.items()
        if what not in ("addresses", "phones")
    }
    moved["addresses"] = _reassign(
        PatronAddress.objects.filter(patron=merged), actor, patron=survivor, is_preferred=False
    )
    moved["phones"] = _reassign(
        PatronPhone.objects.filter(patron=merged), actor, patron=survivor, is_preferred=False
    )
    moved["emails"] = _move_emails(actor, survivor, merged)
    moved["statistics"] = _move_statistics(actor, survivor, merged)
    moved["proxy links"] = _move_proxy_links(actor, survivor, merged)
    return moved


def _reassign(rows, actor: Patron, **values) -> int:
    return rows.update(updated_by=actor, updated_at=timezone.now(), **values)


def _move_emails(actor: Patron, survivor: Patron, merged: Patron) -> int:
    """Addresses the survivor has already (ignoring case) are dropped; the others move,
    none of them primary (the survivor's primary stays, see _sync_primary_email)."""
    known = {address.lower() for address in survivor.emails.values_list("address", flat=True)}
    rows = list(PatronEmail.objects.filter(patron=merged).values_list("pk", "address"))
    duplicates = [pk for pk, address in rows if address.lower() in known]
    PatronEmail.objects.filter(pk__in=duplicates).delete()
    # Demoted first: the one-primary index is checked row by row.
    PatronEmail.objects.filter(patron=merged, is_primary=True).update(is_primary=False)
    return _reassign(PatronEmail.objects.filter(patron=merged), actor, patron=survivor)


def _move_statistics(actor: Patron, survivor: Patron, merged: Patron) -> int:
    """One row per (category, owner site): the survivor's wins."""
    held = PatronStatistic.objects.filter(
        patron=survivor,
        category=models.OuterRef("category"),
        owner_site=models.OuterRef("owner_site"),
    )
    PatronStatistic.objects.filter(patron=merged).filter(models.Exists(held)).delete()
    return _reassign(PatronStatistic.objects.filter(patron=merged), actor, patron=survivor)


def _move_proxy_links(actor: Patron, survivor: Patron, merged: Patron) -> int:
    """A link between the two records would make the survivor its own proxy: dropped, as
    are links the survivor has already."""
    between = models.Q(proxy=merged, patron=survivor) | models.Q(proxy=survivor, patron=merged)
    ProxyLink.objects.filter(between).delete()
    for side, other in (("patron", "proxy"), ("proxy", "patron")):
        held = ProxyLink.objects.filter(**{side: survivor, other: models.OuterRef(other)})
        ProxyLink.objects.filter(**{side: merged}).filter(models.Exists(held)).delete()
    as_patron = _reassign(ProxyLink.objects.filter(patron=merged), actor, patron=survivor)
    as_proxy = _reassign(ProxyLink.objects.filter(proxy=merged), actor, proxy=survivor)
    return as_patron + as_proxy


def _keep_previous_barcodes(actor: Patron, survivor: Patron, merged: Patron, before) -> int:
    """Every barcode of the two that the survivor does not carry now becomes an identifier
    of type "previous_barcode", so that scanning an old card finds the survivor."""
    old_survivor_barcode = before.get("barcode", survivor.barcode)
    kept = {old_survivor_barcode, merged.barcode} - {survivor.barcode, None, ""}
    if not kept:
        return 0
    kind = _previous_barcode_type()
    added = 0
    for barcode in sorted(kept):
        holder = Identifier.objects.filter(value=barcode).values_list("patron_id", flat=True)
        holder = holder.first()
        if holder == survivor.pk:
            continue
        if holder is not None:
            raise ValidationError(MERGE_BARCODE_TAKEN.format(barcode=barcode))
        Identifier.objects.create(
            patron=survivor,
            identifier_type=kind,
            value=barcode,
            note=f"Merged from {merged.display_name}"[:200],
            created_by=actor,
            updated_by=actor,
        )
        added += 1
    return added


def _previous_barcode_type() -> IdentifierType:
    kind, _ = IdentifierType.objects.get_or_create(
        code=PREVIOUS_BARCODE, defaults={"name": PREVIOUS_BARCODE_NAME}
    )
    return kind


def _sync_primary_email(actor: Patron, survivor: Patron) -> None:
    """Patron.email mirrors the primary typed email: the other record's email was chosen,
    so its row becomes the primary one."""
    if not survivor.email:
        return
    rows = PatronEmail.objects.filter(patron=survivor)
    primary = rows.filter(is_primary=True).first()
    if primary is not None and primary.address.lower() == survivor.email.lower():
        return
    match = next(
        (row for row in rows if row.address.lower() == survivor.email.lower()),
        None,
    )
    rows.filter(is_primary=True).update(is_primary=False)
    if match is None:
        PatronEmail.objects.create(
            patron=survivor,
            address=survivor.email,
            is_primary=True,
            created_by=actor,
            updated_by=actor,
        )
    else:
        rows.filter(pk=match.pk).update(is_primary=True, updated_by=actor)


def _repoint_history(survivor: Patron, merged: Patron) -> int:
    """The moved rows' past events, so the survivor's History tab shows them (event tables
    are not append-only; the ledger is, and is not touched)."""
    count = 0
    for model, column in _TRACKED:
        events = model.pgh_event_model.objects.filter(**{f"{column}_id": merged.pk})
        count += events.update(**{f"{column}_id": survivor.pk})
    return count


def _log_merge(actor: Patron, survivor: Patron, merged: Patron, moved: dict, before) -> None:
    details = {
        "merged": {
            "id": merged.pk,
            "name": merged.display_name,
            "barcode": merged.barcode,
            "username": merged.username,
        },
        "moved": {what: count for what, count in moved.items() if count},
        "fields_taken": sorted(before),
        **log.changes(before, survivor),
        "record_history": f"The merged-away record's own history stays under id {merged.pk}.",
    }
    log.record(log.Kind.MERGED, operator=actor, patron=survivor, details=details)


def _drop_unused_photo(survivor: Patron, old_photo, merged: Patron) -> None:
    """Photos are personal data: the one the survivor does not keep leaves the disk."""
    unused = old_photo if survivor.photo.name != old_photo.name else merged.photo
    if unused and unused.name != survivor.photo.name:
        _delete_file_on_commit(unused)
