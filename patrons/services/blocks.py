"""Adding and lifting a patron's blocks. A lifted block is kept, with who lifted it, when
and why; an expired one stops counting by itself (Block.objects.active). System blocks
(patrons.system_blocks) are computed, never stored, and never lifted here.

Adding needs no version check (two operators adding blocks do not overwrite each other);
lifting locks the block's row, so of two operators lifting the same block one succeeds and
the other is told it was lifted already."""

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from patrons.models import Block, BlockType, Patron
from patrons.services.patron import _acting
from security import log, policy
from sites.models import Site

__all__ = [
    "BLOCK_ALREADY_LIFTED",
    "BLOCK_EXPIRY_IN_PAST",
    "BLOCK_LIFT_REASON_REQUIRED",
    "BLOCK_REASON_REQUIRED",
    "EDIT_BLOCKS",
    "SYSTEM_BLOCK_NOT_LIFTABLE",
    "block_add",
    "block_lift",
]

EDIT_BLOCKS = "patrons.edit_blocks"
BLOCK_ALREADY_LIFTED = "This block was lifted already: nothing was changed."
BLOCK_EXPIRY_IN_PAST = "The expiry date cannot be in the past."
BLOCK_LIFT_REASON_REQUIRED = "Say why the block is lifted."
BLOCK_REASON_REQUIRED = "Say why the patron is blocked."
SYSTEM_BLOCK_NOT_LIFTABLE = (
    "A system block cannot be lifted by hand: it goes by itself when its cause goes."
)
_ADDED_FIELDS = ("block_type", "note", "expires_on", "owner_site")
_LIFTED_FIELDS = ("lifted_at", "lifted_by", "lift_reason")


@transaction.atomic
def block_add(
    *,
    actor: Patron,
    patron: Patron,
    block_type: BlockType,
    note: str,
    owner_site: Site,
    expires_on: datetime.date | None = None,
) -> Block:
    """Block `patron`, owned by `owner_site` (where the actor may edit blocks)."""
    block = Block(
        patron=patron,
        block_type=block_type,
        note=note.strip(),
        owner_site=owner_site,
        expires_on=expires_on,
        created_by=actor,
        updated_by=actor,
    )
    policy.require(actor, EDIT_BLOCKS, block)
    errors = {}
    if not block.note:
        errors["note"] = BLOCK_REASON_REQUIRED
    if expires_on is not None and expires_on < timezone.localdate():
        errors["expires_on"] = BLOCK_EXPIRY_IN_PAST
    if errors:
        raise ValidationError(errors)
    with _acting(actor):
        block.full_clean()
        block.save()
    added = {name: [None, value] for name, value in log.snapshot(block, _ADDED_FIELDS).items()}
    log.record(
        log.Kind.PATRON_CHANGED,
        operator=actor,
        patron=patron,
        obj=block,
        site=owner_site,
        details={"block": "added", "changes": added},
    )
    return block


@transaction.atomic
def block_lift(*, actor: Patron, block: Block, reason: str) -> Block:
    """Lift `block` for `reason`; refused (nothing changed) when it was lifted already."""
    policy.require(actor, EDIT_BLOCKS, block)
    reason = reason.strip()
    if not reason:
        raise ValidationError({"lift_reason": BLOCK_LIFT_REASON_REQUIRED})
    current = Block.objects.select_for_update().select_related("owner_site").get(pk=block.pk)
    if current.is_lifted:
        raise ValidationError(BLOCK_ALREADY_LIFTED, code="already_lifted")
    before = log.snapshot(current, _LIFTED_FIELDS)
    current.lifted_at = timezone.now()
    current.lifted_by = actor
    current.lift_reason = reason
    current.updated_by = actor
    with _acting(actor):
        current.full_clean()
        current.save()
    log.record(
        log.Kind.PATRON_CHANGED,
        operator=actor,
        patron=block.patron,
        obj=current,
        site=current.owner_site,
        details={"block": "lifted", **log.changes(before, current)},
    )
    return current
