"""Reads of a patron's History tab: every change to the record and its sub-records, from
the django-pghistory event tables, newest first, field by field.

One page is one SQL statement: a UNION ALL of the event tables of this patron (and of the
operator log's entries for what no event table holds: password, PIN and site access, only
ever "changed" or site names), ordered by (time, source, id), cut at the keyset cursor
and at PAGE_SIZE + 1; then, for those rows only, each event with the event before it of
the same object (old -> new, found by a window over the patron's events of each table,
so one sort per table and no per-row search) and its context's acting operator. A second
statement names what the page's foreign keys point at, a third loads the acting operators
(to ask the policy whether the reader may see their names). The count does not grow with the page
number or the number of rows.

Events in which nothing shown changed (a save that only raised the version, a password
change that the Patron event table excludes) are skipped in SQL, so that a page is never
short. Notes and blocks whose owner site lies outside the reader's scope are left out in
SQL too (mirroring the policy's owned-record rule, which presenting asks again).

The SQL is composed only of table and column names from the models' _meta (quoted by the
connection) and integer constants; every value is a parameter.
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.text import capfirst

from libstaff import paging
from patrons.models import (
    Attachment,
    Block,
    BlockType,
    Guardian,
    Identifier,
    IdentifierType,
    Note,
    NoteType,
    Patron,
    PatronAddress,
    PatronEmail,
    PatronPhone,
    PatronStatistic,
    PatronType,
    ProgramMeasure,
)
from security import log, policy
from security.models import OperatorAction, SecurityGroup
from sites.models import Site

VIEW = "patrons.view_patron"
PAGE_SIZE = 50

HIDDEN_ACTOR = "another operator"
GONE_ACTOR = "a former operator"
NO_ACTOR = "the system"

# Fields of the record itself, by the tab that edits them. The rest (version, who created
# or last updated the row, and when) is bookkeeping that every change carries.
PATRON_FIELDS = {
    "personal": (
        "title", "first_name", "middle_name", "last_name", "preferred_first_name",
        "preferred_last_name", "birth_date", "gender", "barcode", "admin_system_id",
        "patron_type", "cohort", "form_class", "home_site", "status", "expiry_date",
        "purge_date", "is_generic", "is_staff_member", "is_protected", "photo",
    ),
    "contact": (
        "email", "communication_channel", "language", "additional_email", "notify_overdue",
        "notify_hold_ready", "notify_fines", "keep_history",
    ),
    "access": ("username", "security_group", "source", "must_change_password"),
}  # fmt: skip
# What only the operator log records (the Patron event table excludes the secrets, and
# site access is a many-to-many relation): shown on the Access tab's side.
LOG_FIELDS = ("password", "pin", "site_access")
BOOKKEEPING = frozenset({"id", "patron", "created_at", "created_by", "updated_by", "updated_at"})

TAB_LABELS = {
    "personal": "Personal",
    "contact": "Contact",
    "access": "Access",
    "notes": "Notes",
    "blocks": "Blocks",
    "identifiers": "Identifiers",
}
ACTIONS = {"insert": "added", "update": "changed", "delete": "removed"}

# Models whose names a change shows instead of their ids: SQL for their labels.
_LABELS = {
    PatronType: "name",
    NoteType: "name",
    BlockType: "name",
    IdentifierType: "name",
    SecurityGroup: "name",
    Site: "code || ' - ' || name",
}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Source:
    key: str
    model: type  # the tracked model
    tab: str
    label: str  # what the row is, in words: "Email", "Note"

    @property
    def event_model(self):
        return self.model.pgh_event_model

    @property
    def owned(self) -> bool:
        """A note, block or statistic: only readers whose scope covers its owner site see
        it."""
        return self.model in (Note, Block, PatronStatistic)

    def fields(self, tab: str = "") -> tuple[str, ...]:
        if self.model is Patron:
            if tab:
                return PATRON_FIELDS.get(tab, ())
            return tuple(name for names in PATRON_FIELDS.values() for name in names)
        tracked = {f.name for f in self.event_model._meta.concrete_fields}
        return tuple(
            f.name
            for f in self.model._meta.concrete_fields
            if f.name in tracked and f.name not in BOOKKEEPING
        )


# The order matters: a source's index breaks ties between events of the same moment (one
# transaction shares its time), and is part of the cursor.
SOURCES = (
    Source("patron", Patron, "", "Record"),
    Source("email", PatronEmail, "contact", "Email"),
    Source("address", PatronAddress, "contact", "Address"),
    Source("phone", PatronPhone, "contact", "Phone"),
    Source("guardian", Guardian, "contact", "Contact"),
    Source("note", Note, "notes", "Note"),
    Source("block", Block, "blocks", "Block"),
    Source("identifier", Identifier, "identifiers", "Identifier"),
    Source("statistic", PatronStatistic, "statistics", "Statistical category"),
    Source("program", ProgramMeasure, "programs", "Program measure"),
    Source("attachment", Attachment, "attachments", "Attachment"),
)
LOG_SOURCE = len(SOURCES)  # the operator log's entries come last


@dataclass(frozen=True)
class Change:
    label: str
    old: str | None  # None: an insert (nothing before) or a secret
    new: str | None  # None: a delete (nothing after) or a secret
    secret: bool = False  # shown as "changed" only


@dataclass
class HistoryRow:
    at: datetime
    actor: str
    tab: str  # the tab's label
    what: str  # "Record", "Note"...
    action: str  # added, changed, removed
    changes: list[Change] = field(default_factory=list)
    cursor: str = ""


@dataclass
class HistoryPage:
    rows: list[HistoryRow] = field(default_factory=list)
    next_cursor: str | None = None  # older changes
    previous_cursor: str | None = None  # newer changes
    notice: str = ""


def history_page(
    *, operator, patron: Patron, tab: str = "", after: str = "", before: str = "",
    page_size: int = PAGE_SIZE,
) -> HistoryPage:  # fmt: skip
    """One page of the patron's history as `operator` may read it: the newest changes, or
    those older than the cursor `after`, or newer than `before`; `tab` (a key of
    TAB_LABELS, anything else meaning every tab) keeps the changes of that tab."""
    tab = tab if tab in TAB_LABELS else ""
    cursor = decode_cursor(after or before)
    backwards = bool(before) and not after and cursor is not None
    found = _fetch(operator, patron, tab, cursor, backwards, page_size + 1)
    has_more = len(found) > page_size
    found = found[:page_size]
    if backwards:
        found.reverse()
    page = HistoryPage(rows=_present(operator, patron, tab, found))
    if (after or before) and cursor is None:
        page.notice = paging.CURSOR_DAMAGED
    if page.rows and (backwards or has_more):
        page.next_cursor = page.rows[-1].cursor
    if page.rows and (has_more if backwards else cursor is not None):
        page.previous_cursor = page.rows[0].cursor
    return page


# --- the page query ---------------------------------------------------------------------


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _column(model, name: str) -> str:
    return _quote(model._meta.get_field(name).column)


def _branch(index: int, source: Source, tab: str, patron_pk: int, owner_sites, params) -> str:
    """This patron's events of one table that change something shown (inserts and
    deletes always do), each with the id of the event before it of the same object. The
    window reads the patron's events of the table once, in one sort; notes and blocks of
    sites the reader may not see are left out after it, so that "before" stays true."""
    events = source.event_model
    table = _quote(events._meta.db_table)
    owner = "pgh_obj_id" if source.model is Patron else _column(events, "patron")
    differs = " OR ".join(
        f"e.{_column(events, name)} IS DISTINCT FROM lag(e.{_column(events, name)}) OVER w"
        for name in source.fields(tab)
    )
    owner_site = f"e.{_column(events, 'owner_site')}" if source.owned else "NULL::bigint"
    sql = (
        f"SELECT at, src, id, prev_id FROM (SELECT e.pgh_created_at AS at, {index} AS src,"  # noqa: S608 (names from _meta, quoted)
        f" e.pgh_id::bigint AS id, (lag(e.pgh_id) OVER w)::bigint AS prev_id,"
        f" e.pgh_label AS label, ({differs or 'false'}) AS differs, {owner_site} AS site"
        f" FROM {table} e WHERE e.{owner} = %s"
        f" WINDOW w AS (PARTITION BY e.pgh_obj_id ORDER BY e.pgh_id)) events"
        f" WHERE (label <> 'update' OR prev_id IS NULL OR differs)"
    )
    params.append(patron_pk)
    if source.owned and owner_sites is not None:
        sql += " AND site = ANY(%s)"
        params.append(list(owner_sites))
    return sql


def _log_branch(patron_pk: int, params: list) -> str:
    entries = OperatorAction._meta.db_table
    params.append(patron_pk)
    params.append(OperatorAction.Kind.PATRON_CHANGED.value)
    params.append(list(LOG_FIELDS))
    return (
        f"SELECT o.at, {LOG_SOURCE} AS src, o.id, NULL::bigint FROM {_quote(entries)} o"  # noqa: S608 (names from _meta, quoted)
        f" WHERE o.{_column(OperatorAction, 'patron')} = %s AND o.action = %s"
        f" AND jsonb_typeof(o.details->'changes') = 'object'"
        f" AND (o.details->'changes') ?| %s::text[]"
    )


def _event_json(index: int, source: Source) -> str:
    """The event with the one before it of the same object, and its acting operator."""
    events = source.event_model
    table = _quote(events._meta.db_table)
    contexts = _quote(events._meta.get_field("pgh_context").related_model._meta.db_table)
    return (
        f"WHEN {index} THEN (SELECT jsonb_build_object('label', e.pgh_label,"  # noqa: S608 (names from _meta, quoted)
        f" 'user', c.metadata->'user', 'data', to_jsonb(e), 'prev',"
        f" (SELECT to_jsonb(p) FROM {table} p WHERE p.pgh_id = page.prev_id))"
        f" FROM {table} e LEFT JOIN {contexts} c ON c.id = e.pgh_context_id"
        f" WHERE e.pgh_id = page.id)"
    )


def _log_json() -> str:
    entries = _quote(OperatorAction._meta.db_table)
    operator = _column(OperatorAction, "operator")
    return (
        f"WHEN {LOG_SOURCE} THEN (SELECT jsonb_build_object('label', 'log',"  # noqa: S608 (names from _meta, quoted)
        f" 'user', to_jsonb(o.{operator}), 'data', o.details->'changes', 'prev', null)"
        f" FROM {entries} o WHERE o.id = page.id)"
    )


def _owner_sites(operator):
    """Sites whose notes and blocks the reader sees (None: every site), as the policy's
    owned-record rule has them."""
    if policy.site_scope_ids(operator) is None:
        return None
    return policy.scope(operator, VIEW, Site).values_list("pk", flat=True)


def _fetch(operator, patron, tab, cursor, backwards, limit) -> list[dict]:
    chosen = [
        (index, source)
        for index, source in enumerate(SOURCES)
        if not tab or source.tab == tab or (source.model is Patron and tab in PATRON_FIELDS)
    ]
    owner_sites = None
    if any(source.owned for _, source in chosen):
        owner_sites = _owner_sites(operator)
        if owner_sites is not None:
            owner_sites = list(owner_sites)
    params: list = []
    branches = [
        _branch(index, source, tab, patron.pk, owner_sites, params) for index, source in chosen
    ]
    if tab in ("", "access"):
        branches.append(_log_branch(patron.pk, params))
    where = ""
    if cursor is not None:
        where = f"WHERE (at, src, id) {'>' if backwards else '<'} (%s, %s, %s)"
        params += list(cursor)
    direction = "ASC" if backwards else "DESC"
    order = f"ORDER BY at {direction}, src {direction}, id {direction}"
    cases = [_event_json(index, source) for index, source in chosen] + [_log_json()]
    sql = (
        f"WITH page AS (SELECT at, src, id, prev_id FROM ({' UNION ALL '.join(branches)}) merged"  # noqa: S608 (names from _meta, quoted)
        f" {where} {order} LIMIT %s)"
        f" SELECT at, src, id, CASE src {' '.join(cases)} END FROM page {order}"
    )
    params.append(limit)
    with connection.cursor() as db:
        db.execute(sql, params)
        return [
            {"at": at, "src": src, "id": pk, **_loaded(event)}
            for at, src, pk, event in db.fetchall()
        ]


def _loaded(event) -> dict:
    if isinstance(event, str):
        event = json.loads(event)
    return event if isinstance(event, dict) else {}


# --- presenting -------------------------------------------------------------------------


def _present(operator, patron, tab, found: list[dict]) -> list[HistoryRow]:
    if not found:
        return []
    labels = _labels(found)
    actors = _actors(found)
    rows = []
    for event in found:
        if event["src"] == LOG_SOURCE:
            row = _log_row(event)
        else:
            row = _event_row(operator, patron, tab, SOURCES[event["src"]], event, labels, actors)
        row.actor = _actor_name(operator, actors, event.get("user"))
        row.cursor = encode_cursor(event["at"], event["src"], event["id"])
        rows.append(row)
    return rows


def _event_row(operator, patron, tab, source, event, labels, actors) -> HistoryRow:
    data = event.get("data") or {}
    prev = event.get("prev") or None
    kind = event.get("label", "update")
    if source.owned:
        if not _may_see_owned(operator, patron, source, data):
            data = {}
        if prev is not None and not _may_see_owned(operator, patron, source, prev):
            prev = {}  # what it was at a site the reader may not see stays unsaid
    row = HistoryRow(
        at=event["at"],
        actor="",
        tab=TAB_LABELS.get(source.tab or _patron_tab(source, tab, data, prev), ""),
        what=source.label,
        action=ACTIONS.get(kind, kind),
    )
    if not data:
        return row
    for name in source.fields(tab if source.model is Patron else ""):
        change = _change(source, name, kind, data, prev, labels, actors, operator)
        if change is not None:
            row.changes.append(change)
    return row


def _patron_tab(source, tab, data, prev) -> str:
    """The tab of the record's fields that changed (the first, when several did)."""
    if tab:
        return tab
    for key, names in PATRON_FIELDS.items():
        for name in names:
            column = source.event_model._meta.get_field(name).attname
            if prev is None or data.get(column) != prev.get(column):
                return key
    return "personal"


def _change(source, name, kind, data, prev, labels, actors, operator) -> Change | None:
    model_field = source.model._meta.get_field(name)
    column = model_field.attname
    label = capfirst(str(model_field.verbose_name))
    new = data.get(column)
    old = (prev or {}).get(column) if kind == "update" else None
    if kind == "update":
        if prev is not None and old == new:
            return None
    elif new in (None, "", False) and kind == "insert":
        return None  # an insert shows what was set
    if name in log.SECRET_FIELDS:
        return Change(label, None, None, secret=True)
    shown = {
        "insert": (None, _value(model_field, new, labels, actors, operator)),
        "delete": (_value(model_field, new, labels, actors, operator), None),
    }.get(kind)
    if shown is None:
        shown = (
            _value(model_field, old, labels, actors, operator),
            _value(model_field, new, labels, actors, operator),
        )
    return Change(label, *shown)


def _value(model_field, value, labels, actors, operator) -> str:
    if value in (None, ""):
        return "—"
    if model_field.is_relation:
        related = model_field.related_model
        if related is Patron:
            return _actor_name(operator, actors, value)
        return labels.get((related, value), f"#{value}")
    if model_field.get_internal_type() == "DateTimeField" and isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is not None:
            return timezone.localtime(parsed).strftime("%Y-%m-%d %H:%M")
    return log.shown_value(model_field.model, model_field.name, value)


def _may_see_owned(operator, patron, source, data) -> bool:
    owner = data.get("owner_site_id")
    if owner is None:
        return False
    return policy.can(operator, VIEW, source.model(patron=patron, owner_site_id=owner))


def _log_row(event) -> HistoryRow:
    """An operator log entry: the secrets only as "changed", site access by site names."""
    changes = event.get("data") if isinstance(event.get("data"), dict) else {}
    row = HistoryRow(at=event["at"], actor="", tab="Access", what="Record", action="changed")
    for name in LOG_FIELDS:
        if name not in changes:
            continue
        label = capfirst(str(Patron._meta.get_field(name).verbose_name))
        value = changes[name]
        if name in log.SECRET_FIELDS or not (isinstance(value, list) and len(value) == 2):
            row.changes.append(Change(label, None, None, secret=True))
        else:
            old, new = (", ".join(str(s) for s in side) if isinstance(side, list) else "—"
                        for side in value)  # fmt: skip
            row.changes.append(Change(label, old or "—", new or "—"))
    return row


def _labels(found) -> dict:
    """The names of what the page's foreign keys point at, in one statement."""
    wanted: dict[type, set[int]] = {model: set() for model in _LABELS}
    for event in found:
        if event["src"] == LOG_SOURCE:
            continue
        model = SOURCES[event["src"]].model
        for side in (event.get("data"), event.get("prev")):
            for model_field in model._meta.concrete_fields:
                related = model_field.related_model if model_field.is_relation else None
                value = (side or {}).get(model_field.attname)
                if related in wanted and paging.is_id(value):
                    wanted[related].add(value)
    params = []
    parts = []
    for index, (model, expression) in enumerate(_LABELS.items()):
        parts.append(
            f"SELECT {index}, id, ({expression})::text FROM {_quote(model._meta.db_table)}"  # noqa: S608 (names from _meta, quoted)
            f" WHERE id = ANY(%s)"
        )
        params.append(sorted(wanted[model]))
    models = list(_LABELS)
    with connection.cursor() as db:
        db.execute(" UNION ALL ".join(parts), params)
        return {(models[index], pk): text for index, pk, text in db.fetchall()}


def _actors(found) -> dict:
    """The acting operators (and lifters of blocks), to ask whether the reader sees them."""
    ids = set()
    for event in found:
        if paging.is_id(event.get("user")):
            ids.add(event["user"])
        for side in (event.get("data"), event.get("prev")):
            if isinstance(side, dict) and paging.is_id(side.get("lifted_by_id")):
                ids.add(side["lifted_by_id"])
    if not ids:
        return {}
    people = Patron.objects.filter(pk__in=ids).select_related("security_group", "home_site")
    return {person.pk: person for person in people}


def _actor_name(operator, actors, user_id) -> str:
    if not paging.is_id(user_id):
        return NO_ACTOR
    actor = actors.get(user_id)
    if actor is None:
        return GONE_ACTOR
    if actor.pk == operator.pk or policy.can(operator, VIEW, actor):
        return actor.display_name
    return HIDDEN_ACTOR


# --- cursors: "<microseconds since 1970>.<source>.<id>" ---------------------------------


def encode_cursor(at: datetime, src: int, pk: int) -> str:
    return f"{(at - _EPOCH) // _MICROSECOND}.{src}.{pk}"


def decode_cursor(cursor: str) -> tuple[datetime, int, int] | None:
    """The time, source and id in a cursor; None when it is damaged (libstaff.paging)."""
    if not cursor or len(cursor) > paging.MAX_CURSOR_LENGTH:
        return None
    try:
        micros, src, pk = (int(part) for part in cursor.split("."))
        at = _EPOCH + micros * _MICROSECOND
    except (ValueError, OverflowError):
        return None
    if not (0 <= src <= LOG_SOURCE and paging.is_id(pk)):
        return None
    return at, src, pk
