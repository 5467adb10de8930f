"""Reads of the security app, always within the policy's scope.

The operator log: a District Administrator reads every entry; other readers read the
entries of the sites where they hold security.view_operator_log (their site access, with
its branches, and their explicit grants of it). Entries of no site (a failed sign-in with a
name no account has) are the District Administrators' alone. Pages are keyset pages on
(at, id), newest first: page 10,000 of millions of entries costs what page 1 costs.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from django.db.models.lookups import Exact
from django.utils import timezone

from libstaff import paging
from security import policy
from security.models import OperatorAction
from sites.models import Site

LOG_PERMISSION = "security.view_operator_log"
# Entries of a sign-in that did not succeed: the account named is their patron.
SIGN_IN_ATTEMPTS = (OperatorAction.Kind.LOGIN_FAILED, OperatorAction.Kind.LOCKED_OUT)
PAGE_SIZE = 50
EXPORT_CHUNK = 2000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class LogFilters:
    """What the filter form chose; empty means "any"."""

    operator: str = ""  # a username (or the name typed at a failed sign-in)
    action: str = ""  # an OperatorAction.Kind
    patron: str = ""  # a barcode or username
    date_from: date | None = None
    date_to: date | None = None  # inclusive


@dataclass
class LogPage:
    rows: list[OperatorAction] = field(default_factory=list)
    next_cursor: str | None = None  # older entries
    previous_cursor: str | None = None  # newer entries
    notice: str = ""  # why this is the first page, when the link asked for another


def operator_action_list(*, operator, filters: LogFilters | None = None) -> QuerySet:
    """The entries `operator` may read that match `filters`, newest first."""
    entries = _filtered(_visible(operator), filters or LogFilters())
    return entries.select_related("patron", "site").order_by("-at", "-id")


def operator_action_page(
    *,
    operator,
    filters: LogFilters | None = None,
    after: str = "",
    before: str = "",
    page_size: int = PAGE_SIZE,
) -> LogPage:
    """One page: the newest entries, or those older than the cursor `after`, or those newer
    than `before` (cursors from a previous page; a damaged cursor means the first page)."""
    entries = operator_action_list(operator=operator, filters=filters)
    cursor = decode_cursor(after or before)
    backwards = bool(before) and not after and cursor is not None
    if cursor is not None:
        entries = entries.filter(_beyond(*cursor, newer=backwards))
    if backwards:
        entries = entries.reverse()
    found = list(entries[: page_size + 1])
    has_more = len(found) > page_size
    rows = found[:page_size]
    if backwards:
        rows.reverse()
    page = LogPage(rows=rows)
    if (after or before) and cursor is None:
        page.notice = paging.CURSOR_DAMAGED
    if rows and (backwards or has_more):
        page.next_cursor = encode_cursor(rows[-1])
    if rows and (has_more if backwards else cursor is not None):
        page.previous_cursor = encode_cursor(rows[0])
    return page


def operator_action_export(*, operator, filters: LogFilters | None = None) -> Iterator:
    """Every matching entry, newest first, read in chunks (a server-side cursor): memory
    stays flat however long the range."""
    entries = operator_action_list(operator=operator, filters=filters)
    return entries.iterator(chunk_size=EXPORT_CHUNK)


def _visible(operator) -> QuerySet:
    entries = OperatorAction.objects.all()
    if not policy.can(operator, LOG_PERMISSION):
        return entries.none()
    if policy.site_scope_ids(operator) is None:  # District Administrators
        return entries
    # The ids themselves, not a subquery: PostgreSQL then estimates how many entries the
    # sites hold, and reads the log in time order rather than every entry of the sites.
    sites = policy.scope(operator, LOG_PERMISSION, Site).values_list("pk", flat=True)
    return entries.filter(site__in=list(sites))


def _filtered(entries: QuerySet, filters: LogFilters) -> QuerySet:
    if filters.operator:
        entries = entries.filter(_operator_match(filters.operator))
    if filters.action:
        entries = entries.filter(action=filters.action)
    if filters.patron:
        entries = entries.filter(_patron_match(filters.patron))
    if filters.date_from:
        entries = entries.filter(at__gte=_start_of(filters.date_from))
    if filters.date_to and filters.date_to < date.max:  # up to 9999-12-31: no end at all
        entries = entries.filter(at__lt=_start_of(filters.date_to + timedelta(days=1)))
    return entries


def _operator_match(name: str) -> Q:
    """The account of that username: what it did, by its link, and the sign-in attempts
    that named it (by username or email: failed and locked out), which link it as the
    patron, their author being unknown. A name no account has (typed at a failed sign-in,
    or of a deleted operator) by the name kept in the entries without a link. They read the
    indexes on (operator, at) and (patron, at); the reader's scope applies to all of them:
    attempts on an account belong to its home site."""
    accounts = get_user_model().objects.filter(Exact(Lower("username"), name.lower()))
    ids = list(accounts.values_list("pk", flat=True))
    if not ids:
        return Q(operator=None, operator_name__iexact=name)
    attempts = Q(operator=None, patron__in=ids, action__in=SIGN_IN_ATTEMPTS)
    return Q(operator__in=ids) | attempts


def _patron_match(term: str) -> Q:
    """The patrons with that barcode or username; when none has it, the deletion of a
    patron who had it (their barcode and username stay in the entry's details)."""
    patrons = get_user_model().objects.filter(
        Q(barcode=term) | Q(Exact(Lower("username"), term.lower()))
    )
    ids = list(patrons.values_list("pk", flat=True))
    if ids:
        return Q(patron__in=ids)
    deleted = Q(details__barcode=term) | Q(details__username__iexact=term)
    return Q(action=OperatorAction.Kind.PATRON_DELETED) & deleted


def _start_of(day: date) -> datetime:
    """Midnight in the library's time zone: a date filter means the local day."""
    return timezone.make_aware(datetime.combine(day, time.min))


def _beyond(at: datetime, pk: int, *, newer: bool) -> Q:
    """Entries after the cursor in the reading direction. The plain bound on `at` lets the
    index on `at` start at the cursor; the id breaks ties between equal times."""
    if newer:
        return Q(at__gte=at) & (Q(at__gt=at) | Q(id__gt=pk))
    return Q(at__lte=at) & (Q(at__lt=at) | Q(id__lt=pk))


# --- cursors: "<microseconds since 1970>.<id>" ----------------------------------------------


def encode_cursor(entry: OperatorAction) -> str:
    return f"{(entry.at - _EPOCH) // _MICROSECOND}.{entry.pk}"


def decode_cursor(cursor: str) -> tuple[datetime, int] | None:
    """The time and id in a cursor; None when it is damaged (libstaff.paging)."""
    if len(cursor) > paging.MAX_CURSOR_LENGTH:
        return None
    try:
        micros, pk = (int(part) for part in cursor.split("."))
        at = _EPOCH + micros * _MICROSECOND
    except (ValueError, OverflowError):
        return None
    return (at, pk) if paging.is_id(pk) else None
