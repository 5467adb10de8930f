"""Reads of a patron's blocks for staff: the Blocks tab, the record header's badge and the
patron list's column and filter. A block is seen only by operators whose scope covers its
owner site (security.policy, in SQL); system blocks (patrons.system_blocks) are seen by
everyone who sees the patron."""

from dataclasses import dataclass, field

from django.db.models import Case, Exists, IntegerField, OuterRef, Q, QuerySet, Value, When

from libstaff.queries import count_per_row
from patrons import system_blocks
from patrons.models import Block, Patron
from patrons.services.blocks import EDIT_BLOCKS
from patrons.system_blocks import SystemBlock
from security import policy
from sites.models import Site

VIEW = "patrons.view_patron"
OVERRIDE_BLOCKS = "patrons.override_blocks"


def visible_blocks(operator, blocks: QuerySet | None = None) -> QuerySet:
    """The blocks (of `blocks`, default all) whose owner site the operator's scope covers."""
    return policy.scope(operator, VIEW, blocks if blocks is not None else Block.objects.all())


def visible_active_blocks(operator) -> QuerySet:
    return visible_blocks(operator, Block.objects.active())


def blocked_condition(operator) -> Q:
    """A filter on Patron: an active block the operator sees, or a system block whose
    provider gives a condition."""
    condition = Q(Exists(visible_active_blocks(operator).filter(patron=OuterRef("pk"))))
    for raised in system_blocks.conditions():
        condition |= raised
    return condition


def active_block_count(operator):
    """An annotation on Patron: active blocks the operator sees, plus one per system block
    provider (with a condition) that blocks the row; a subquery per listed row."""
    count = count_per_row(visible_active_blocks(operator), "patron")
    for raised in system_blocks.conditions():
        count = count + Case(
            When(raised, then=Value(1)), default=Value(0), output_field=IntegerField()
        )
    return count


def patron_blocked(*, operator, patron: Patron) -> bool:
    """For the record header (one query, plus the system block providers')."""
    if visible_active_blocks(operator).filter(patron=patron).exists():
        return True
    return bool(system_blocks.blocks_of(patron))


@dataclass
class PatronBlocks:
    active: list[Block] = field(default_factory=list)
    past: list[Block] = field(default_factory=list)  # lifted or expired, newest first
    system: list[SystemBlock] = field(default_factory=list)


def patron_blocks(*, operator, patron: Patron) -> PatronBlocks:
    """The Blocks tab: the blocks the operator sees, in one query whatever their number,
    each marked `liftable` when the operator may lift it."""
    rows = visible_blocks(operator, Block.objects.filter(patron=patron)).select_related(
        "block_type", "owner_site", "created_by", "lifted_by"
    )
    found = PatronBlocks(system=system_blocks.blocks_of(patron))
    for block in rows.order_by("-created_at", "-pk"):
        block.patron = patron  # the policy reads the patron's level and site: no query a row
        if block.is_active:
            block.liftable = policy.can(operator, EDIT_BLOCKS, block)
            found.active.append(block)
        else:
            block.liftable = False
            found.past.append(block)
    return found


def block_owner_sites(*, operator) -> list[Site]:
    """Sites that may own a block the operator adds: those where they may edit blocks."""
    return list(policy.scope(operator, EDIT_BLOCKS, Site).order_by("code"))


def may_override_blocks(*, operator, patron: Patron) -> bool:
    return policy.can(operator, OVERRIDE_BLOCKS, patron)


def find_visible_block(*, operator, patron: Patron, block_id) -> Block | None:
    """One block of this patron that the operator sees (None: missing, another patron's,
    or out of scope: the caller answers 404 for all three)."""
    try:
        pk = int(block_id)
    except (TypeError, ValueError):
        return None
    block = visible_blocks(operator, Block.objects.filter(patron=patron, pk=pk)).first()
    if block is not None:
        block.patron = patron
    return block
