"""The floor of a page: a bare WSGI app that replays that page's own SQL statements
(captured from the page, parameters included) through one raw connection per worker and
renders a plain table of at most 50 rows of the largest result. No Django, no middleware,
no sign-in, no policy: what the page costs beyond this is our own request path.

LIBSTAFF_FLOOR_PLAN names a JSON file {path: [statement, ...]}; LIBSTAFF_FLOOR_DSN the
database. Served by gunicorn like the application (tests/bench/serving.py)."""

import html
import json
import os

import psycopg

with open(os.environ["LIBSTAFF_FLOOR_PLAN"]) as plan_file:
    PLAN: dict[str, list[str]] = json.load(plan_file)

_connection = None


def _cursor():
    global _connection  # one connection per worker process, kept like CONN_MAX_AGE's
    if _connection is None or _connection.closed:
        _connection = psycopg.connect(os.environ["LIBSTAFF_FLOOR_DSN"], autocommit=True)
    return _connection.cursor()


def application(environ, start_response):
    statements = PLAN.get(environ.get("PATH_INFO", ""))
    if statements is None:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no such page"]
    largest: list[tuple] = []
    with _cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
            rows = cursor.fetchall() if cursor.description else []
            if len(rows) > len(largest):
                largest = rows
    body = _table(largest[:50]).encode()
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [body]


def _table(rows: list[tuple]) -> str:
    cells = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(value))}</td>" for value in row) + "</tr>"
        for row in rows
    )
    return f"<!doctype html><title>floor</title><table>{cells}</table>"
