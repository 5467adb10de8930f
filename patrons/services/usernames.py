"""Changing many usernames at once (/staff/patrons/usernames/): plan, then apply.

`usernames_plan` reads a list of old -> new usernames (a CSV) or applies a rule to the
patrons of a site, and says what would change and what is wrong, writing nothing. Its
lookups are set-based: one query for the old usernames, one for the new ones already
taken, whatever the number of rows. `usernames_apply` writes a plan all or nothing, after
asking every rule again with the patrons locked; a plan with any problem is refused, and so
is one whose patrons changed since it was made (their `version`).
"""

from collections import Counter
from dataclasses import dataclass, field

from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from libstaff.queries import violated_constraint
from patrons.models import Patron, PatronType
from patrons.models.patron import USERNAME_UNIQUE
from patrons.services.patron import _acting, _locked_many
from security import log, policy
from sites.models import Site

__all__ = [
    "USERNAMES_MAX_ROWS",
    "UsernameChange",
    "UsernamePair",
    "UsernamePlan",
    "UsernameProblem",
    "UsernameRule",
    "usernames_apply",
    "usernames_plan",
]

EDIT_ACCESS = "patrons.edit_access"
USERNAMES_MAX_ROWS = 10_000
USERNAME_MAX_LENGTH = Patron._meta.get_field("username").max_length
# PostgreSQL's name for the UNIQUE of Patron.username (unique=True), beside USERNAME_UNIQUE.
USERNAME_FIELD_UNIQUE = "patrons_patron_username_key"
LOGGED_CHANGES = 100  # the log line names the first ones; the count says how many

TOO_MANY = "At most {limit:,} usernames in one batch ({count:,} given): split the list."
OLD_EMPTY = "The old username is empty: name the account to change."
NEW_EMPTY = "The new username is empty: every account keeps a username here."
INVALID = (
    "“{new}” is not a valid username: letters, digits and @ . + - _ only, at most "
    f"{USERNAME_MAX_LENGTH} characters."
)
NOT_FOUND = "No patron you may edit has the username “{old}”."
NOT_BELOW = "You cannot change {name}'s username: their level is not below your own."
TAKEN = "Another account already uses “{new}” (usernames ignore case)."
DUPLICATE_NEW = "More than one row gives the username “{new}” (usernames ignore case)."
DUPLICATE_OLD = "More than one row changes the username of {name}."
UNCHANGED = "Already has this username."
NO_EMAIL = "No primary email: the rule has nothing to make a username of."
NO_BARCODE = "No barcode: the rule has nothing to make a username of."
NOTHING_TO_APPLY = "Nothing to change: this batch has no valid change."
HAS_PROBLEMS = "This batch has problems: fix them and preview it again."
STALE = (
    "{count} of these patrons changed since the preview (or were deleted): nothing was "
    "changed. Preview the batch again."
)

_valid_username = UnicodeUsernameValidator()


class UsernameRule(models.TextChoices):
    EMAIL_LOCAL_PART = "email", "Email local part (before the @), lowercased"
    BARCODE = "barcode", "Barcode"


@dataclass(frozen=True)
class UsernamePair:
    """One row of an uploaded list: its line in the file, the old and the new username."""

    line: int | None
    old: str
    new: str


@dataclass(frozen=True)
class UsernameChange:
    patron_id: int
    version: int  # the patron's version when planned: a later change makes the plan stale
    old: str  # "" for a patron without a username
    new: str
    patron: str = ""  # "Name (barcode)", for the preview


@dataclass(frozen=True)
class UsernameProblem:
    line: int | None
    old: str
    new: str
    message: str
    patron: str = ""


@dataclass
class UsernamePlan:
    changes: list[UsernameChange] = field(default_factory=list)
    problems: list[UsernameProblem] = field(default_factory=list)  # any: apply is refused
    skipped: list[UsernameProblem] = field(default_factory=list)  # left out, with the reason

    @property
    def can_apply(self) -> bool:
        return bool(self.changes) and not self.problems


@dataclass
class _Row:
    line: int | None
    old: str
    new: str
    patron: Patron | None = None
    problem: str = ""


def usernames_plan(
    *,
    actor: Patron,
    pairs: list[UsernamePair] | None = None,
    rule: str = "",
    site: Site | None = None,
    patron_type: PatronType | None = None,
    only_without_username: bool = False,
) -> UsernamePlan:
    """What the batch would change, and its problems; nothing is written. Either `pairs`
    (old -> new usernames) or a `rule` (UsernameRule) for the patrons of `site` (with its
    branches) the actor may edit, of `patron_type` when given."""
    policy.require(actor, EDIT_ACCESS)
    if pairs is not None:
        _check_size(len(pairs))
        return _planned(actor, _rows_of_pairs(actor, pairs))
    if rule not in UsernameRule.values:
        raise ValueError(f"Not a username rule: {rule!r}")
    policy.require(actor, EDIT_ACCESS, site)
    candidates = _rule_candidates(actor, site, patron_type, only_without_username)
    rows, skipped = _rows_of_rule(rule, candidates)
    plan = _planned(actor, rows)
    plan.skipped = skipped + plan.skipped
    return plan


@transaction.atomic
def usernames_apply(*, actor: Patron, plan: UsernamePlan) -> int:
    """Write the plan's changes, all or nothing, and return how many. Every rule is asked
    again with the patrons locked (in id order); any problem, or a patron whose version
    changed since the plan, refuses the whole batch with a ValidationError."""
    policy.require(actor, EDIT_ACCESS)
    if plan.problems:
        raise ValidationError(HAS_PROBLEMS)
    if not plan.changes:
        raise ValidationError(NOTHING_TO_APPLY)
    _check_size(len(plan.changes))
    ids = [change.patron_id for change in plan.changes]
    locked = {patron.pk: patron for patron in _locked_many(ids)}
    _check_not_stale(plan.changes, locked)
    rows = [_row_of_locked(actor, locked[change.patron_id], change.new) for change in plan.changes]
    rechecked = _planned(actor, rows)
    if rechecked.problems or len(rechecked.changes) != len(plan.changes):
        raise ValidationError([problem.message for problem in rechecked.problems] or HAS_PROBLEMS)
    _write(actor, [(locked[change.patron_id], change.new) for change in rechecked.changes])
    _log(actor, rechecked.changes)
    return len(rechecked.changes)


# --- planning -------------------------------------------------------------------------------


def _check_size(count: int) -> None:
    if count > USERNAMES_MAX_ROWS:
        raise ValidationError(TOO_MANY.format(limit=USERNAMES_MAX_ROWS, count=count))


def _rows_of_pairs(actor: Patron, pairs: list[UsernamePair]) -> list[_Row]:
    """Each pair with the patron its old username names (one query for all of them)."""
    by_username = _patrons_by_username(pair.old for pair in pairs)
    rows = []
    for pair in pairs:
        row = _Row(pair.line, pair.old, pair.new, by_username.get(pair.old.lower()))
        if not pair.old:
            row.problem = OLD_EMPTY
        else:
            _check_editable(actor, row)
        rows.append(row)
    return rows


def _row_of_locked(actor: Patron, patron: Patron, new: str) -> _Row:
    row = _Row(None, patron.username or "", new, patron)
    _check_editable(actor, row)
    return row


def _check_editable(actor: Patron, row: _Row) -> None:
    """The policy, patron by patron (its answers about the actor are cached: no query). A
    patron out of scope is "not found", as a missing one: we do not confirm it exists."""
    if row.patron is None or not policy.can(actor, "patrons.view_patron", row.patron):
        row.problem, row.patron = NOT_FOUND.format(old=row.old), None
    elif not policy.can(actor, EDIT_ACCESS, row.patron):
        row.problem = NOT_BELOW.format(name=row.patron.display_name)


def _patrons_by_username(usernames) -> dict[str, Patron]:
    wanted = {name.lower() for name in usernames if _storable(name)}
    found = (
        Patron.objects.select_related("security_group")
        .alias(lowered=Lower("username"))
        .filter(lowered__in=wanted)
    )
    return {patron.username.lower(): patron for patron in found}


def _storable(name: str) -> bool:
    """Text PostgreSQL can compare with a username (no NUL; a longer one matches nothing)."""
    return bool(name) and "\x00" not in name and len(name) <= USERNAME_MAX_LENGTH


def _rule_candidates(actor, site: Site, patron_type, only_without_username: bool) -> list:
    site_ids = policy.descendants(policy.site_tree(), [site.pk])
    patrons = policy.scope(actor, EDIT_ACCESS, Patron).filter(home_site_id__in=site_ids)
    if patron_type is not None:
        patrons = patrons.filter(patron_type=patron_type)
    if only_without_username:
        patrons = patrons.filter(username__isnull=True)
    found = list(patrons.select_related("security_group").order_by("pk")[: USERNAMES_MAX_ROWS + 1])
    _check_size(len(found))
    return found


def _rows_of_rule(rule: str, patrons: list[Patron]) -> tuple[list[_Row], list[UsernameProblem]]:
    rows, skipped = [], []
    for patron in patrons:
        new, reason = _made_by_rule(rule, patron)
        old = patron.username or ""
        if reason or new == old:
            skipped.append(UsernameProblem(None, old, new, reason or UNCHANGED, _label(patron)))
        else:
            rows.append(_Row(None, old, new, patron))
    return rows, skipped


def _made_by_rule(rule: str, patron: Patron) -> tuple[str, str]:
    """The username the rule gives the patron, or the reason it gives none."""
    if rule == UsernameRule.BARCODE:
        return (patron.barcode, "") if patron.barcode else ("", NO_BARCODE)
    local_part = (patron.email or "").rpartition("@")[0].lower()
    return (local_part, "") if local_part else ("", NO_EMAIL)


def _planned(actor: Patron, rows: list[_Row]) -> UsernamePlan:
    """The rules every row must pass: a valid new name, one row per patron and per new
    name, a name no account outside the batch has."""
    for row in rows:
        if not row.problem:
            row.problem = _new_name_problem(row.new)
    _mark_duplicates(rows)
    _mark_taken(rows)
    plan = UsernamePlan()
    for row in rows:
        label = _label(row.patron) if row.patron is not None else ""
        if row.problem:
            plan.problems.append(UsernameProblem(row.line, row.old, row.new, row.problem, label))
        elif row.new == row.old:
            plan.skipped.append(UsernameProblem(row.line, row.old, row.new, UNCHANGED, label))
        else:
            plan.changes.append(
                UsernameChange(row.patron.pk, row.patron.version, row.old, row.new, label)
            )
    return plan


def _new_name_problem(new: str) -> str:
    if not new:
        return NEW_EMPTY
    if len(new) > USERNAME_MAX_LENGTH or "\x00" in new:
        return INVALID.format(new=new[:USERNAME_MAX_LENGTH])
    try:
        _valid_username(new)
    except ValidationError:
        return INVALID.format(new=new)
    return ""


def _mark_duplicates(rows: list[_Row]) -> None:
    patrons = Counter(row.patron.pk for row in rows if row.patron is not None)
    names = Counter(row.new.lower() for row in rows if row.new)
    for row in rows:
        if row.patron is not None and patrons[row.patron.pk] > 1:
            row.problem = row.problem or DUPLICATE_OLD.format(name=row.patron.display_name)
        if row.new and names[row.new.lower()] > 1:
            row.problem = row.problem or DUPLICATE_NEW.format(new=row.new)


def _mark_taken(rows: list[_Row]) -> None:
    """A new name is taken when an account outside the batch has it: names the batch moves
    away from (a swap, a chain) are free. One query for every name."""
    in_batch = {row.patron.pk for row in rows if row.patron is not None}
    wanted = {row.new.lower() for row in rows if not row.problem}
    holders = (
        Patron.objects.alias(lowered=Lower("username"))
        .filter(lowered__in=wanted)
        .exclude(pk__in=in_batch)
        .values_list("username", flat=True)
    )
    taken = {username.lower() for username in holders} if wanted else set()
    for row in rows:
        if not row.problem and row.new.lower() in taken:
            row.problem = TAKEN.format(new=row.new)


def _label(patron: Patron) -> str:
    return f"{patron.display_name} ({patron.barcode})" if patron.barcode else patron.display_name


# --- applying -------------------------------------------------------------------------------


def _check_not_stale(changes: list[UsernameChange], locked: dict[int, Patron]) -> None:
    stale = [
        change
        for change in changes
        if change.patron_id not in locked or locked[change.patron_id].version != change.version
    ]
    if stale:
        raise ValidationError(STALE.format(count=len(stale)), code="stale")


def _write(actor: Patron, changes: list[tuple[Patron, str]]) -> None:
    """The unique index on lower(username) is checked row by row and cannot be deferred:
    patrons whose current name another row wants give it up (NULL) first, then every
    patron gets their new name. A name taken meanwhile by someone outside the batch fails
    the index, and the whole batch is refused."""
    wanted = {new.lower() for _patron, new in changes}
    giving_up = [patron.pk for patron, _new in changes if (patron.username or "").lower() in wanted]
    try:
        with transaction.atomic(), _acting(actor):
            if giving_up:
                Patron.objects.filter(pk__in=giving_up).update(username=None)
            _set_usernames(actor, changes)
    except IntegrityError as error:
        if violated_constraint(error) not in (USERNAME_UNIQUE, USERNAME_FIELD_UNIQUE):
            raise
        raise ValidationError(HAS_PROBLEMS, code="taken") from error


def _set_usernames(actor: Patron, changes: list[tuple[Patron, str]]) -> None:
    """One statement for the whole batch, the new names joined as arrays: bulk_update would
    write a CASE of one branch per patron for each column (seconds for 10,000 rows)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE patrons_patron AS patron"
            " SET username = batch.new, version = patron.version + 1,"
            " updated_by_id = %s, updated_at = %s"
            " FROM unnest(%s::bigint[], %s::text[]) AS batch (id, new)"
            " WHERE patron.id = batch.id",
            [
                actor.pk,
                timezone.now(),
                [patron.pk for patron, _new in changes],
                [new for _patron, new in changes],
            ],
        )


def _log(actor: Patron, changes: list[UsernameChange]) -> None:
    named = [f"{change.old or '—'} → {change.new}" for change in changes[:LOGGED_CHANGES]]
    log.record(
        log.Kind.USERNAMES, operator=actor, details={"count": len(changes), "changes": named}
    )
