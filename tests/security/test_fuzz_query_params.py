"""Whatever the query string, the operator log (/staff/security/log/, its htmx results and
its CSV export) answers without a server error (issue 9): every parameter its filter form
and its pages read, with values they offer, values of the wrong type, dates at and beyond
the ends of the calendar, and page links real, damaged or crafted."""

import pytest
from django.db import transaction
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from security import log
from security.models import OperatorAction
from tests import strategies
from tests.conftest import SignedInClient

pytestmark = pytest.mark.django_db

Kind = OperatorAction.Kind
LOG = reverse("security:log")
EXPORT = reverse("security:log_export")
# The library's zone: UTC, and the zones farthest ahead of and behind it.
TIME_ZONES = ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago"]
HEADERS = st.sampled_from(
    [{}, {"HX-Request": "true"}, {"HX-Request": "true", "HX-History-Restore-Request": "true"}]
)


@pytest.fixture
def readers(district_admin, library_admin, librarian, ams, jes):
    """A District Administrator (every entry) and a Library Administrator (AMS only), and
    more than a page of entries to read."""
    for number in range(60):
        log.record(Kind.LOGIN_FAILED, operator_name=f"n{number}", site=(ams, jes)[number % 2])
    log.record(Kind.LOGIN, operator=librarian)
    clients = []
    for reader in (district_admin, library_admin):
        client = SignedInClient()
        client.force_login(reader)
        clients.append(client)
    return clients


@pytest.fixture
def real_cursors(readers) -> list[str]:
    """The page links the log makes: older entries, and newer ones from there."""
    first = readers[0].get(LOG).context["page"]
    older = readers[0].get(LOG, {"after": first.next_cursor}).context["page"]
    assert first.next_cursor and older.previous_cursor
    return [first.next_cursor, older.previous_cursor]


def _replaced(cursor: str, index: int, part: str) -> str:
    parts = cursor.split(".")
    parts[index % len(parts)] = part
    return ".".join(parts)


def log_parameters(real_cursors: list[str]) -> dict:
    mutated = st.builds(
        _replaced,
        st.sampled_from(real_cursors),
        st.integers(0, 1),
        st.one_of(strategies.NUMBER_TEXT, strategies.TEXT),
    )
    cursor = st.one_of(st.sampled_from(real_cursors), mutated, strategies.dotted_cursors())
    return {
        "operator": strategies.any_value("librarian", "n1", "N2", "nobody"),
        "action": strategies.any_value("", *Kind.values),
        "patron": strategies.any_value("librarian", "P0000001"),
        "date_from": st.one_of(strategies.CALENDAR_ENDS, strategies.any_value("")),
        "date_to": st.one_of(strategies.CALENDAR_ENDS, strategies.any_value("")),
        "after": cursor,
        "before": cursor,
    }


def read(client, url, params, headers):
    """The response, its streamed body read to the end (a failure there is a failure too)."""
    with transaction.atomic():  # a failed query would leave the test's transaction unusable
        response = client.get(url, params, headers=headers)
        if response.streaming:
            b"".join(response.streaming_content)
        transaction.set_rollback(True)
    return response


@strategies.fuzz_settings
@given(data=st.data())
def test_no_query_string_breaks_the_operator_log_or_its_export(
    readers, real_cursors, settings, data
):
    params = data.draw(strategies.query(log_parameters(real_cursors)), label="params")
    client = data.draw(st.sampled_from(readers), label="reader")
    headers = data.draw(HEADERS, label="headers")
    settings.TIME_ZONE = data.draw(st.sampled_from(TIME_ZONES), label="time zone")
    for url in (LOG, EXPORT):
        assert read(client, url, params, headers).status_code < 500
