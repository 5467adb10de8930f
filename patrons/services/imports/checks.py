"""The set-based checks of a staged import: one SQL statement per rule over all its rows.

Each rule is the one the record tabs apply, asked of the policy once for the sets it
needs (the sites where the importer may register, the groups they may give...), then
applied in SQL to every row: matching, duplicates within the file and against other
patrons, scope and level (rule 4 and 5), the groups' sites, rule 6 and the email rule.
Then what each valid row would change: a per-field diff that leaves alone the protected
columns and the fields staff changed by hand since the last import (Alma's rule).
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.models import Count

from patrons.csv_columns import BY_NAME
from patrons.models import ImportedValues, ImportRow, ImportRun, Patron, email_required_message
from patrons.models.patron import HOME_SITE_OUTSIDE_GROUP
from patrons.services.patron import HOME_SITE_ACCESS_NOT_YOURS
from security import policy, preferences
from security.models import Level, SecurityGroup
from sites.models import Site

ROWS = ImportRow._meta.db_table
PATRONS = Patron._meta.db_table
SITE_ACCESS = Patron.site_access.through._meta.db_table
IMPORTED = ImportedValues._meta.db_table

DUPLICATE_IN_FILE = "{label} %s appears on lines %s."
SHARED_KEY = "{label} %s is shared by %s patrons: match on another column."
TAKEN = "{label} %s is already used by another patron."
NEEDS_LAST_NAME = "Last name: required."
NEEDS_HOME_SITE = "Home site: a new patron needs one."
OUT_OF_SCOPE = "Matches a patron you cannot change: at another site, or at or above your own level."
CANNOT_REGISTER_AT = "Home site: you cannot register patrons at %s."
CANNOT_MOVE_TO = "Home site: you cannot move patrons to %s."
GROUP_NOT_YOURS = "Security group: %s is at or above your own level, or not a group you may give."
DISTRICT_ADMINISTRATOR = (
    "This patron is a District Administrator: their record is changed on its tabs, not by "
    "an import (so that the district always keeps an administrator who can sign in)."
)

# Columns and the permission that changes them (the tab they are on).
_ACCESS = {"username", "security_group"}
_CONTACT = {"email", "communication_channel", "language"}


def permissions_for(columns) -> set[str]:
    wanted = set(columns)
    perms = set()
    if wanted & _ACCESS:
        perms.add("patrons.edit_access")
    if wanted & _CONTACT:
        perms.add("patrons.edit_contact")
    if wanted - _ACCESS - _CONTACT - {"barcode", "admin_system_id"} or not perms:
        perms.add("patrons.edit_personal")
    return perms


@dataclass
class _Sql:
    """The expressions a rule needs: `r` is the staged row, `p` the matched patron (NULL
    for a new one), `g` the group the patron will have."""

    run: ImportRun

    def present(self, name: str) -> bool:
        return name in self.run.columns

    def result(self, name: str, default: str = "NULL") -> str:
        """The value the patron will have: the file's where it has the column."""
        column = BY_NAME[name].attname
        if self.present(name):
            return f"r.{column}"
        return f"COALESCE(p.{column}, {default})"

    def group(self) -> str:
        """The group the patron will have: an empty cell keeps theirs, or gives a new
        patron the default group (the `%s` parameter)."""
        given = "r.security_group_id, " if self.present("security_group") else ""
        return f"COALESCE({given}p.security_group_id, %s)"


def check_rows(run: ImportRun) -> None:
    """Match, check and classify every staged row of `run` (errors, diff, kept, action)."""
    sql = _Sql(run)
    actor = run.operator
    _reset(run)
    _match(run)
    _duplicates_within_file(run)
    _taken_by_others(run)
    _required(run, sql)
    _scope(run, actor)
    _home_site(run, sql, actor)
    _groups(run, sql, actor)
    _contact_and_access(run, sql, actor)
    _diff(run, sql)
    _may_change(run, actor)
    _classify(run)


def _execute(statement: str, params=()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.rowcount


def _flag(run: ImportRun, condition: str, message: str, params=(), message_params=()) -> None:
    """Add `message` (SQL text, may format row values) to each row meeting `condition`."""
    sql = _Sql(run)
    _execute(
        f"UPDATE {ROWS} AS target SET errors = target.errors || ARRAY[{message}]::text[] "
        f"FROM {ROWS} AS r LEFT JOIN {PATRONS} AS p ON p.id = r.patron_id "
        f"LEFT JOIN {SecurityGroup._meta.db_table} AS g "
        f"ON g.id = {sql.group()} "
        f"WHERE target.id = r.id AND r.run_id = %s AND r.readable AND ({condition})",
        (*message_params, preferences.default_group().pk, run.pk, *params),
    )


def _literal(text: str) -> str:
    """A message as an SQL string in a statement with parameters: quotes and percent signs
    doubled (a `%s` in it becomes format()'s placeholder)."""
    return "'" + text.replace("'", "''").replace("%", "%%") + "'"


def _reset(run: ImportRun) -> None:
    _execute(
        f"UPDATE {ROWS} SET errors = CASE WHEN raw <> '[]' THEN errors ELSE '{{}}' END, "
        "patron_id = NULL, patron_version = NULL, diff = '{}', kept = '{}', action = '' "
        "WHERE run_id = %s",
        (run.pk,),
    )


def _match(run: ImportRun) -> None:
    """Each row to the one patron with its key; a key that several patrons share (admin
    ids are not unique) matches nobody and says so."""
    match = {"username": "lower(p.username)"}.get(run.match_on, f"p.{run.match_on}")
    label = BY_NAME[run.match_on].label.capitalize()
    _execute(
        f"WITH found AS (SELECT r.id, min(p.id) AS patron_id, count(*) AS n "
        f"FROM {ROWS} r JOIN {PATRONS} p ON {match} = r.key "
        f"WHERE r.run_id = %s AND r.key <> '' AND r.errors = '{{}}' GROUP BY r.id) "
        f"UPDATE {ROWS} AS r SET patron_id = CASE WHEN found.n = 1 THEN found.patron_id END, "
        f"patron_version = CASE WHEN found.n = 1 THEN p.version END, "
        f"errors = CASE WHEN found.n > 1 THEN r.errors || "
        f"format({_literal(SHARED_KEY.format(label=label))}, r.key, found.n) "
        f"ELSE r.errors END "
        f"FROM found JOIN {PATRONS} p ON p.id = found.patron_id WHERE r.id = found.id",
        (run.pk,),
    )


def _duplicates_within_file(run: ImportRun) -> None:
    keys = {"key": BY_NAME[run.match_on].label}
    if run.match_on != "barcode":
        keys["barcode"] = "Barcode"
    if run.match_on != "username" and "username" in run.columns:
        keys["lower(username)"] = "Username"
    for expression, label in keys.items():
        message = _literal(DUPLICATE_IN_FILE.format(label=label.capitalize()))
        _execute(
            f"WITH repeated AS (SELECT id, value, string_agg(line::text, ', ') OVER ("
            f"PARTITION BY value ORDER BY line ROWS BETWEEN UNBOUNDED PRECEDING AND "
            f"UNBOUNDED FOLLOWING) AS lines, count(*) OVER (PARTITION BY value) AS n "
            f"FROM (SELECT id, line, {expression} AS value FROM {ROWS} "
            f"WHERE run_id = %s AND {expression} IS NOT NULL AND {expression} <> '') rows) "
            f"UPDATE {ROWS} AS r SET errors = r.errors || format({message}, value, lines) "
            f"FROM repeated WHERE r.id = repeated.id AND repeated.n > 1",
            (run.pk,),
        )


def _taken_by_others(run: ImportRun) -> None:
    for column, match, label in (
        ("barcode", "other.barcode = r.barcode", "Barcode"),
        ("username", "lower(other.username) = lower(r.username)", "Username"),
    ):
        if column not in run.columns:
            continue
        _flag(
            run,
            f"r.{column} IS NOT NULL AND EXISTS (SELECT 1 FROM {PATRONS} other "
            f"WHERE {match} AND other.id IS DISTINCT FROM r.patron_id)",
            f"format({_literal(TAKEN.format(label=label))}, r.{column})",
        )


def _required(run: ImportRun, sql: _Sql) -> None:
    if sql.present("last_name"):
        _flag(run, "r.last_name = ''", _literal(NEEDS_LAST_NAME))
    else:
        _flag(run, "r.patron_id IS NULL", _literal(NEEDS_LAST_NAME))
    if sql.present("home_site"):
        _flag(run, "r.home_site_id IS NULL", _literal(NEEDS_HOME_SITE))
    else:
        _flag(run, "r.patron_id IS NULL", _literal(NEEDS_HOME_SITE))


def _scope(run: ImportRun, actor) -> None:
    """Rule 5 for matched patrons: within the importer's sight. (Changing them is asked
    once the diff is known: a row that changes nothing on a patron they may see, such as
    their own record in an export of their site, is unchanged.)"""
    visible = _scope_sql(actor, "patrons.view_patron")
    if visible is not None:
        condition = f"r.patron_id IS NOT NULL AND NOT {_has('r.patron_id', visible[0])}"
        _flag(run, condition, _literal(OUT_OF_SCOPE), visible[1])


def _may_change(run: ImportRun, actor) -> None:
    """Rules 4 and 5 for the rows that change a matched patron: every tab the file's
    columns are on. A refused row loses its diff: nothing of it is applied."""
    conditions, params = [], []
    for perm in sorted(permissions_for(run.columns)):
        editable = _scope_sql(actor, perm)
        if editable is not None:
            conditions.append(f"NOT {_has('r.patron_id', editable[0])}")
            params.extend(editable[1])
    if conditions:
        condition = f"r.patron_id IS NOT NULL AND r.diff <> '{{}}' AND ({' OR '.join(conditions)})"
        _flag(run, condition, _literal(OUT_OF_SCOPE), params)
    _flag(
        run,
        f"r.diff <> '{{}}' AND p.security_group_id IN (SELECT id FROM "
        f"{SecurityGroup._meta.db_table} WHERE level = {int(Level.DISTRICT_ADMINISTRATOR)})",
        _literal(DISTRICT_ADMINISTRATOR),
    )
    _execute(f"UPDATE {ROWS} SET diff = '{{}}' WHERE run_id = %s AND errors <> '{{}}'", (run.pk,))


def _scope_sql(actor, perm: str) -> tuple[str, tuple] | None:
    """The SQL of the patrons the policy lets `actor` reach for `perm`, or None when that
    is every patron (a District Administrator): no row then needs asking."""
    scoped = policy.scope(actor, perm, Patron)
    if not scoped.query.where and not scoped.query.is_empty():
        return None
    return scoped.values("id").query.sql_with_params()


def _has(column: str, ids_sql: str) -> str:
    """`column` is among the ids a scope's SQL selects, asked row by row through the
    primary key (NOT IN over a million ids would not fit in memory and turn quadratic)."""
    return f"EXISTS (SELECT 1 FROM ({ids_sql}) AS scoped WHERE scoped.id = {column})"


def _site_ids(actor, perm: str) -> list[int]:
    return list(policy.scope(actor, perm, Site).values_list("pk", flat=True))


def _home_site(run: ImportRun, sql: _Sql, actor) -> None:
    if not sql.present("home_site"):
        return
    code = f"(SELECT code FROM {Site._meta.db_table} WHERE id = r.home_site_id)"
    _flag(
        run,
        "r.patron_id IS NULL AND r.home_site_id IS NOT NULL AND NOT r.home_site_id = ANY(%s)",
        f"format({_literal(CANNOT_REGISTER_AT)}, {code})",
        (_site_ids(actor, "patrons.add_patron"),),
    )
    _flag(
        run,
        "r.patron_id IS NOT NULL AND r.home_site_id <> p.home_site_id "
        "AND NOT r.home_site_id = ANY(%s)",
        f"format({_literal(CANNOT_MOVE_TO)}, {code})",
        (_site_ids(actor, "patrons.edit_personal"),),
    )


def _groups(run: ImportRun, sql: _Sql, actor) -> None:
    """Rule 4 for the group a row gives, and a group owned by a site for patrons of that
    site and its branches."""
    groups = list(SecurityGroup.objects.select_related("owner_site"))
    assignable = [group.pk for group in groups if policy.can(actor, policy.ASSIGN_GROUP, group)]
    default = preferences.default_group().pk
    _flag(
        run,
        f"g.id IS DISTINCT FROM COALESCE(p.security_group_id, {default}) AND NOT g.id = ANY(%s)",
        "format(" + _literal(GROUP_NOT_YOURS) + ", g.name)",
        (assignable,),
    )
    parents = dict(Site.objects.values_list("pk", "parent_id"))
    for group in groups:
        if group.owner_site is None:
            continue
        message = HOME_SITE_OUTSIDE_GROUP.format(group=group.name, site=group.owner_site)
        _flag(
            run,
            f"g.id = %s AND NOT {sql.result('home_site')} = ANY(%s)",
            _literal(message),
            (group.pk, _subtree(group.owner_site_id, parents)),
        )


def _subtree(root: int, parents: dict[int, int | None]) -> list[int]:
    """`root` and every site below it."""

    def under_root(site_id):
        while site_id is not None:
            if site_id == root:
                return True
            site_id = parents.get(site_id)
        return False

    return [site_id for site_id in parents if under_root(site_id)]


def _contact_and_access(run: ImportRun, sql: _Sql, actor) -> None:
    """Rule 6: the email the group needs, and the home site an operator's access gets,
    which only an importer who may give access to that site can add."""
    current = preferences.current()
    email = sql.result("email", "''")
    _flag(
        run,
        f"g.level <= %s AND {email} = ''",
        _literal(email_required_message()),
        (current.email_required_from_level,),
    )
    home_site = sql.result("home_site")
    code = f"(SELECT code FROM {Site._meta.db_table} WHERE id = {home_site})"
    message = _literal(HOME_SITE_ACCESS_NOT_YOURS.replace("{site}", "\x00")).replace("\x00", "%%s")
    _flag(
        run,
        f"g.level <= %s AND g.level < {int(Level.PATRON)} AND NOT {home_site} = ANY(%s) "
        f"AND NOT EXISTS (SELECT 1 FROM {SITE_ACCESS} a WHERE a.patron_id = r.patron_id "
        f"AND a.site_id = {home_site})",
        f"format({message}, {code})",
        (current.home_site_access_from_level, _site_ids(actor, policy.GRANT_SITE_ACCESS)),
    )


def _diff(run: ImportRun, sql: _Sql) -> None:
    """For matched valid rows: {field: [old, new]} of what would change, and the fields
    kept because protected by the run or changed by hand since the feed last wrote them."""
    names = [n for n in run.columns if n not in run.protected and n != run.match_on]
    if not names:
        return
    pairs, kept = [], []
    for name in names:
        column = BY_NAME[name].attname
        changed = f"{new_value(name)} IS DISTINCT FROM p.{column}"
        by_hand = (
            f"(iv.patron_id IS NOT NULL AND iv.values ? '{column}' "
            f"AND p.{column}::text IS DISTINCT FROM iv.values ->> '{column}')"
        )
        pairs.append(
            f"'{name}', CASE WHEN {changed} AND NOT {by_hand} "
            f"THEN jsonb_build_array(p.{column}, {new_value(name)}) END"
        )
        kept.append(f"CASE WHEN {changed} AND {by_hand} THEN '{name}' END")
    _execute(
        f"UPDATE {ROWS} AS r SET diff = jsonb_strip_nulls(jsonb_build_object({', '.join(pairs)})), "
        f"kept = array_remove(ARRAY[{', '.join(kept)}]::varchar[], NULL) "
        f"FROM {PATRONS} p LEFT JOIN {IMPORTED} iv ON iv.patron_id = p.id "
        f"WHERE r.run_id = %s AND p.id = r.patron_id AND r.errors = '{{}}'",
        (run.pk,),
    )


def new_value(name: str) -> str:
    """The value a matched patron gets from the row (`r`; `p` the patron): the file's,
    but an empty group cell keeps the patron's group."""
    column = BY_NAME[name].attname
    if name == "security_group":
        return f"COALESCE(r.{column}, p.{column})"
    return f"r.{column}"


def _classify(run: ImportRun) -> None:
    _execute(
        f"UPDATE {ROWS} SET action = CASE WHEN errors <> '{{}}' THEN 'invalid' "
        "WHEN patron_id IS NULL THEN 'create' WHEN diff <> '{}' THEN 'update' "
        "ELSE 'unchanged' END WHERE run_id = %s",
        (run.pk,),
    )


def counts(run: ImportRun) -> dict:
    found = dict(run.rows.values("action").annotate(n=Count("id")).values_list("action", "n"))
    result = {action: found.get(action, 0) for action in ImportRow.Action.values}
    result["fingerprint"] = fingerprint(run)
    return result


def fingerprint(run: ImportRun) -> str:
    """What applying would do, in one value: a preview whose fingerprint differs at apply
    time is stale."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT md5(string_agg(concat_ws('|', line, action, patron_id, patron_version, "
            f"diff::text, "
            f"kept::text, array_to_string(errors, ';')), '/' ORDER BY line)) "
            f"FROM {ROWS} WHERE run_id = %s",
            (run.pk,),
        )
        return cursor.fetchone()[0] or ""


def deactivations(run: ImportRun) -> list[dict]:
    """With "deactivate the patrons missing from the file": per site the file covers, how
    many of the feed's active patrons it would deactivate, of how many active patrons."""
    if not run.deactivate_missing:
        return []
    missing, params = missing_patrons(run)
    limit = settings.LIBSTAFF_IMPORT_DEACTIVATION_LIMIT
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s.id, s.code, count(*) AS n, (SELECT count(*) FROM {PATRONS} a "
            f"WHERE a.home_site_id = s.id AND a.status = 'active') AS active "
            f"FROM ({missing}) m JOIN {Site._meta.db_table} s ON s.id = m.home_site_id "
            f"GROUP BY s.id, s.code ORDER BY s.code",
            params,
        )
        return [
            {"site": code, "count": n, "active": active, "over_limit": n > limit * active}
            for _site_id, code, n, active in cursor.fetchall()
        ]


def missing_patrons(run: ImportRun) -> tuple[str, tuple]:
    """The feed's active patrons at the sites the file's rows are at, whom no row of the
    file matches, that the importer may change: SQL selecting id and home_site_id."""
    editable, params = (
        policy.scope(run.operator, "patrons.edit_personal", Patron)
        .exclude(security_group__level=Level.DISTRICT_ADMINISTRATOR)
        .values("id")
        .query.sql_with_params()
    )
    home_site = "r.home_site_id" if "home_site" in run.columns else "NULL"
    sql = (
        f"SELECT p.id, p.home_site_id FROM {PATRONS} p WHERE p.import_feed_id = %s "
        f"AND p.status = 'active' AND p.home_site_id IN "
        f"(SELECT COALESCE({home_site}, m.home_site_id) FROM {ROWS} r "
        f"LEFT JOIN {PATRONS} m ON m.id = r.patron_id WHERE r.run_id = %s) "
        f"AND NOT EXISTS (SELECT 1 FROM {ROWS} r WHERE r.run_id = %s AND r.patron_id = p.id) "
        f"AND {_has('p.id', editable)}"
    )
    return sql, (run.feed_id, run.pk, run.pk, *params)
