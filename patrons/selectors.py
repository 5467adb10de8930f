"""Finding patrons: the staff search page (`patron_search`), always within the policy's scope.

One search box, as in Alma: the whole string is looked up exactly as a barcode, username,
email or identifier, and its words as names (every word must match, case and accents
ignored). Names are matched on `Patron.search_name` (all names, folded by the SQL function
libstaff_fold, trigram-indexed): a word of three letters or more anywhere in a name, a shorter
word at the start of a name part. Pages are keyset pages (the last row's sort key is the
cursor), so page 1000 costs what page 1 costs, and the count stops at COUNT_LIMIT.
"""

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from itertools import chain, islice

from django.contrib.postgres.expressions import ArraySubquery
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import (
    BooleanField,
    Case,
    Exists,
    Expression,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Lower
from django.db.models.lookups import Exact, GreaterThanOrEqual, LessThan
from django.utils import timezone

from libstaff import paging
from libstaff.queries import count_per_row
from patrons import block_selectors
from patrons.models import Identifier, ImportFeed, Note, Patron, PatronType
from patrons.models.patron import BARCODE_MISSING, BARCODE_SORT, EXPIRY_SORT, fold
from security import policy
from security.models import SecurityGroup
from sites.models import Site

PAGE_SIZE = 50
COUNT_LIMIT = 1000
PREFIX_BELOW = 3  # shorter words match the start of a name part only (trigrams need three)
NOTHING_OWED = Decimal("0.00")


class Status:
    ACTIVE = "active"  # status Active and not expired
    INACTIVE = "inactive"  # any other status, or expired


@dataclass(frozen=True)
class PatronFilters:
    """What the filter form chose; None or "" means "any"."""

    status: str = ""
    security_group: SecurityGroup | None = None
    site: Site | None = None  # with its branches
    patron_type: PatronType | None = None
    source: str = ""
    import_feed: ImportFeed | None = None
    has_active_block: bool | None = None
    has_notes: bool | None = None
    is_generic: bool | None = None
    owes_more_than: Decimal | None = None  # net balance (active less credit), indexed


@dataclass(frozen=True)
class SortKey:
    """Expressions that order the list; the last one is unique, so the order is total."""

    expressions: tuple[Expression, ...]
    types: tuple[type, ...]


SORTS = {
    "name": SortKey((F("sort_name"), F("id")), (str, int)),
    "barcode": SortKey((BARCODE_MISSING, BARCODE_SORT, F("id")), (bool, str, int)),
    "site": SortKey((F("home_site__code"), F("sort_name"), F("id")), (str, str, int)),
    "expiry": SortKey((EXPIRY_SORT, F("sort_name"), F("id")), (date, str, int)),
}
DEFAULT_SORT = "name"


@dataclass
class PatronPage:
    rows: list[Patron]
    count: int  # at most COUNT_LIMIT + 1: more than COUNT_LIMIT is shown as "1,000+"
    next_cursor: str | None = None
    previous_cursor: str | None = None
    exact_hit: Patron | None = None  # the only match, found exactly: open its record
    words: list[str] = field(default_factory=list)
    notice: str = ""  # why this is the first page, when the link asked for another

    @property
    def count_is_bounded(self) -> bool:
        return self.count > COUNT_LIMIT


def patron_matches(
    *, operator, query: str = "", filters: PatronFilters | None = None
) -> tuple[QuerySet, list[int]]:
    """Every patron of the list for `query` and `filters`, unordered (the export reads
    them all), and the ids of exact hits (a barcode, username, email or identifier)."""
    filters = filters or PatronFilters()
    query = " ".join(query.split())
    site_ids = _site_filter_ids(filters)
    matches = _filtered(Patron.objects.visible_to(operator), filters, site_ids, operator)
    if not query:
        return matches, []
    exact_ids = _exact_ids(query)
    name_match = _name_match(search_words(query))
    return matches.filter(Q(pk__in=exact_ids) | name_match if exact_ids else name_match), exact_ids


def patron_search(
    *,
    operator,
    query: str = "",
    filters: PatronFilters | None = None,
    sort: str = DEFAULT_SORT,
    after: str = "",
    before: str = "",
    page_size: int = PAGE_SIZE,
) -> PatronPage:
    """One page of the patrons `operator` may see that match `query` and `filters`.

    `sort` is a key of SORTS, "-" first for descending. `after`/`before` are cursors from a
    previous page. At most four queries (exact hits of a search, the page, its rows when
    sorted by site, and a bounded count when there is more than one page), whatever the
    number of rows.
    """
    filters = filters or PatronFilters()
    query = " ".join(query.split())
    words = search_words(query)
    site_ids = _site_filter_ids(filters)
    matches, exact_ids = patron_matches(operator=operator, query=query, filters=filters)
    listing = _Listing(sort, after, before, page_size, operator)
    if listing.by_site:
        sites = policy.scope(operator, "patrons.view_patron", Site)
        if site_ids is not None:
            sites = sites.filter(pk__in=site_ids)
        rows, has_more = listing.rows_by_site(matches, exact_ids, sites)
    else:
        rows, has_more = listing.rows(matches, exact_ids)
    if listing.first_page and not has_more:
        count = len(rows)
    else:
        count = matches.order_by().values("pk")[: COUNT_LIMIT + 1].count()
    page = PatronPage(rows=rows, count=count, words=words)
    if listing.cursor_damaged:
        page.notice = paging.CURSOR_DAMAGED
    if rows and (listing.backwards or has_more):
        page.next_cursor = encode_cursor(listing.sort, rows[-1].sort_values)
    if rows and (has_more if listing.backwards else not listing.first_page):
        page.previous_cursor = encode_cursor(listing.sort, rows[0].sort_values)
    if listing.first_page and len(rows) == 1 and rows[0].exact_hit:
        page.exact_hit = rows[0]
    return page


def search_words(query: str) -> list[str]:
    """The words of a name search: split on spaces and commas ("Müller, Jonas")."""
    words = query.replace(",", " ").split()
    return [word for word in words if any(char.isalnum() for char in word)]


# --- matching -------------------------------------------------------------------------------


EXACT_HITS_MAX = 20  # an email shared by a family; more would not be an exact search


def _exact_ids(query: str) -> list[int]:
    """Patrons whose barcode, identifier, username or email is the whole string, found first
    through their indexes, so that the page query only compares ids and names (columns of
    the name indexes). The identifier is a one-row subquery (values are unique)."""
    identifier_owner = Identifier.objects.filter(value=query).order_by().values("patron_id")[:1]
    exact = (
        Q(barcode=query)
        | Q(Exact(Lower("username"), Lower(Value(query))))
        | Q(Exact(Lower("email"), Lower(Value(query))))
        | Q(pk=Subquery(identifier_owner))
    )
    return list(
        Patron.objects.filter(exact).order_by().values_list("pk", flat=True)[:EXACT_HITS_MAX]
    )


def _name_match(words: Sequence[str]) -> Q:
    """Every word in the folded names: anywhere, or at the start of a name part when short.
    The terms are folded by the same SQL function as the column; with constant arguments
    PostgreSQL folds them at planning time, so the trigram index sees a plain pattern."""
    if not words:
        return Q(pk__in=[])
    condition = Q()
    for word in words:
        term = word if len(word) >= PREFIX_BELOW else " " + word  # search_name starts with " "
        condition &= Q(search_name__contains=fold(Value(term)))
    return condition


def _site_filter_ids(filters: PatronFilters) -> frozenset[int] | None:
    """The chosen site and its branches; None when no site is chosen."""
    if filters.site is None:
        return None
    return policy.descendants(policy.site_tree(), [filters.site.pk])


def _filtered(patrons: QuerySet, filters: PatronFilters, site_ids, operator) -> QuerySet:
    # Not expired, written as a range of the expiry sort key (no expiry date = 9999-12-31):
    # sorted by expiry, the index starts at today instead of reading every expired patron.
    today = timezone.localdate()
    if filters.status == Status.ACTIVE:
        patrons = patrons.filter(Q(is_active=True), GreaterThanOrEqual(EXPIRY_SORT, today))
    elif filters.status == Status.INACTIVE:
        patrons = patrons.filter(Q(is_active=False) | Q(LessThan(EXPIRY_SORT, today)))
    if filters.security_group is not None:
        patrons = patrons.filter(security_group=filters.security_group)
    if site_ids is not None:
        patrons = patrons.filter(home_site_id__in=site_ids)
    if filters.patron_type is not None:
        patrons = patrons.filter(patron_type=filters.patron_type)
    if filters.source:
        patrons = patrons.filter(source=filters.source)
    if filters.import_feed is not None:
        patrons = patrons.filter(import_feed=filters.import_feed)
    if filters.has_active_block is not None:
        blocked = block_selectors.blocked_condition(operator)
        patrons = patrons.filter(blocked if filters.has_active_block else ~blocked)
    if filters.has_notes is not None:
        noted = Exists(_visible_notes(operator).filter(patron=OuterRef("pk")))
        patrons = patrons.filter(noted if filters.has_notes else ~noted)
    if filters.is_generic is not None:
        patrons = patrons.filter(is_generic=filters.is_generic)
    if filters.owes_more_than is not None:
        patrons = patrons.filter(balance__net__gt=filters.owes_more_than)
    return patrons


# --- the page -------------------------------------------------------------------------------


class _Listing:
    """Which page of which order: the sort, and the cursor it starts from (if any)."""

    def __init__(self, sort: str, after: str, before: str, page_size: int, operator):
        self.operator = operator  # the row counts are of what they may see
        descending = sort.startswith("-")
        name = sort.lstrip("-")
        if name not in SORTS:
            name, descending = DEFAULT_SORT, False
        self.sort = f"-{name}" if descending else name
        self.by_site = name == "site"
        self.key = SORTS[name]
        self.page_size = page_size
        self.cursor = decode_cursor(self.sort, after or before, self.key)
        self.first_page = self.cursor is None
        self.cursor_damaged = bool(after or before) and self.cursor is None
        self.backwards = bool(before) and not after and self.cursor is not None
        self.reverse = descending != self.backwards  # the direction the database reads in

    def rows(self, matches: QuerySet, exact_ids: list[int]) -> tuple[list[Patron], bool]:
        """Keyset: the rows after the cursor in the order of an index (see Meta.indexes).

        The page's ids are chosen first, by a subquery that needs only indexed columns: a
        name search then walks the name index alone (it includes search_name), however
        far apart the matching names lie; only the page's rows are read from the table."""
        keys = {f"sort_{i}": expression for i, expression in enumerate(self.key.expressions)}
        ordering = [F(name).desc() if self.reverse else F(name).asc() for name in keys]
        page = matches.annotate(**keys)
        if self.cursor is not None:
            page = page.filter(RowCompare(keys.values(), self.cursor, after=not self.reverse))
        page_ids = page.order_by(*ordering).values("pk")[: self.page_size + 1]
        rows = _listed(Patron.objects.filter(pk__in=page_ids), exact_ids, self.operator)
        rows = rows.annotate(**keys)
        found = list(rows.order_by(*ordering))
        for row in found:
            row.sort_values = [getattr(row, name) for name in keys]
        return self._trimmed(found)

    def rows_by_site(self, matches: QuerySet, exact_ids: list[int], sites: QuerySet):
        """By site code, then name. No index orders patrons by a column of another table,
        so: each site's first page by name (index patron_site_sort), sites in code order,
        in one query; then those rows."""
        ids = self._ids_by_site(matches, sites)
        listed = _listed(matches, exact_ids, self.operator).filter(pk__in=ids)
        by_pk = {row.pk: row for row in listed}
        found = [by_pk[pk] for pk in ids if pk in by_pk]
        for row in found:
            row.sort_values = [row.home_site.code, row.sort_name, row.pk]
        return self._trimmed(found)

    def _ids_by_site(self, matches: QuerySet, sites: QuerySet) -> list[int]:
        by_name = [F("sort_name").desc(), F("id").desc()] if self.reverse else ["sort_name", "id"]

        def first_ids(*conditions):
            page = matches.filter(*conditions, home_site=OuterRef("pk")).order_by(*by_name)
            return ArraySubquery(page.values("pk")[: self.page_size + 1])

        site_ids = first_ids()
        if self.cursor is not None:
            code, name, pk = self.cursor
            within = RowCompare([F("sort_name"), F("id")], [name, pk], after=not self.reverse)
            site_ids = Case(When(code=code, then=first_ids(within)), default=site_ids)
            sites = sites.filter(code__lte=code) if self.reverse else sites.filter(code__gte=code)
        ids_per_site = sites.order_by("-code" if self.reverse else "code").annotate(ids=site_ids)
        # A search that can match nothing ("-": no word, no exact hit) compiles to no
        # subquery at all, and a site then gets NULL (or 0, inside the CASE), not an array.
        arrays = ids_per_site.values_list("ids", flat=True)
        ids = chain.from_iterable(found for found in arrays if isinstance(found, list))
        return list(islice(ids, self.page_size + 1))

    def _trimmed(self, found: list[Patron]) -> tuple[list[Patron], bool]:
        for row in found:
            row.exact_hit = bool(row.exact_hit)  # NULL when a compared column is NULL
        has_more = len(found) > self.page_size
        found = found[: self.page_size]
        if self.backwards:
            found.reverse()
        return found, has_more


def _visible_notes(operator) -> QuerySet:
    """Notes count and filter only where the operator sees them (their owner site)."""
    return policy.scope(operator, "patrons.view_patron", Note)


def _listed(matches: QuerySet, exact_ids: list[int], operator) -> QuerySet:
    """The columns of the list: a row's site, group, balance, active blocks, notes, exact
    hit. The counts are a subquery per listed row (50 at most), after the sort and limit,
    never over every match. The balance is the fines app's per-patron summary row (read by
    its relation's name: patrons imports no fines code), joined; no row means nothing owed."""
    return matches.select_related("security_group", "home_site").annotate(
        balance_net=Coalesce(F("balance__net"), Value(NOTHING_OWED)),
        active_blocks=block_selectors.active_block_count(operator),
        note_count=count_per_row(_visible_notes(operator), "patron"),
        exact_hit=ExpressionWrapper(Q(pk__in=exact_ids), output_field=BooleanField())
        if exact_ids
        else Value(False),
    )


class RowCompare(Expression):
    """(a, b, c) > (x, y, z) in SQL, which compares left to right: a btree index on
    (a, b, c) starts its scan at the cursor instead of filtering every row before it."""

    conditional = True
    output_field = BooleanField()

    def __init__(self, expressions, values, *, after: bool):
        super().__init__()
        self.expressions = list(expressions)
        self.values = [Value(value) for value in values]
        self.after = after

    def get_source_expressions(self):
        return [*self.expressions, *self.values]

    def set_source_expressions(self, expressions):
        size = len(self.expressions)
        self.expressions, self.values = expressions[:size], expressions[size:]

    def as_sql(self, compiler, connection):
        left, right, params = [], [], []
        for target, expressions in ((left, self.expressions), (right, self.values)):
            for expression in expressions:
                sql, expression_params = compiler.compile(expression)
                target.append(f"({sql})")
                params.extend(expression_params)
        operator = ">" if self.after else "<"
        return f"({', '.join(left)}) {operator} ({', '.join(right)})", params


# --- sorting and cursors --------------------------------------------------------------------


def encode_cursor(sort: str, values: Sequence) -> str:
    payload = json.dumps([sort, list(values)], cls=DjangoJSONEncoder, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(sort: str, cursor: str, sort_key: SortKey) -> list | None:
    """The sort values in a cursor; None when it is damaged or made for another sort.

    A cursor is input like any other: each value must be of its sort key's type and one
    the database accepts (see libstaff.paging), or the whole cursor is refused."""
    if not cursor or len(cursor) > paging.MAX_CURSOR_LENGTH:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        cursor_sort, values = json.loads(base64.urlsafe_b64decode(padded))
        shaped = isinstance(values, list) and len(values) == len(sort_key.types)
        if cursor_sort != sort or not shaped:
            return None
        return [_typed(kind, value) for kind, value in zip(sort_key.types, values, strict=True)]
    except (ValueError, TypeError, RecursionError, binascii.Error):  # RecursionError: [[[[...
        return None


def _typed(kind: type, value):
    """The ints of a sort key are ids, its strs column text, its dates ISO dates."""
    if kind is date and isinstance(value, str):
        return date.fromisoformat(value)
    if kind is int and paging.is_id(value):
        return value
    if kind is str and paging.is_text(value):
        return value
    if kind is bool and isinstance(value, bool):
        return value
    raise TypeError(f"{value!r} is not a {kind.__name__} of a cursor")
