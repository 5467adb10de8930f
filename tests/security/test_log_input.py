"""Crafted addresses of the operator log and its export (issue 9): the last day a date field
takes, in any time zone, and page links that cannot be read. Each answers with the entries
asked for, or the first page and why, never an error."""

import csv
import io
from datetime import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from libstaff.paging import CURSOR_DAMAGED, MAX_CURSOR_LENGTH
from security import log
from security.models import OperatorAction

pytestmark = pytest.mark.django_db

Kind = OperatorAction.Kind
LOG = reverse("security:log")
EXPORT = reverse("security:log_export")
HTMX = {"HX-Request": "true"}
# The ends of the calendar in the zones farthest ahead of and behind UTC.
TIME_ZONES = ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago"]


@pytest.fixture
def reader(client, district_admin):
    client.force_login(district_admin)
    OperatorAction.objects.all().delete()
    return client


@pytest.fixture
def entries(reader, ams):
    """An entry of long ago and one of today."""
    old = log.record(Kind.LOGIN_FAILED, operator_name="early", site=ams)
    OperatorAction.objects.filter(pk=old.pk).update(
        at=timezone.make_aware(datetime(1999, 1, 1, 12))
    )
    new = log.record(Kind.LOGIN_FAILED, operator_name="late", site=ams)
    return [new, old]


def listed(response) -> list[int]:
    assert response.status_code == 200
    return [row.entry.pk for row in response.context["rows"]]


def exported(response) -> list[str]:
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return [row[1] for row in list(csv.reader(io.StringIO(text)))[1:]]  # the operators


@pytest.mark.parametrize("zone", TIME_ZONES)
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"date_to": "9999-12-31"}, ["late", "early"]),
        ({"date_to": "12/31/9999"}, ["late", "early"]),  # another format the field reads
        ({"date_from": "0001-01-01", "date_to": "9999-12-31"}, ["late", "early"]),
        ({"date_from": "9999-12-31", "date_to": "9999-12-31"}, []),
        ({"date_from": "2000-01-01", "date_to": "9999-12-31"}, ["late"]),
    ],
)
def test_the_ends_of_the_calendar_filter_the_page_and_the_export(
    reader, entries, settings, zone, query, expected
):
    settings.TIME_ZONE = zone
    by_name = {entry.operator_name: entry.pk for entry in entries}
    assert listed(reader.get(LOG, query)) == [by_name[name] for name in expected]
    results = reader.get(LOG, query, headers=HTMX)
    assert results.status_code == 200
    assert [name for name in by_name if name in results.content.decode()] == expected
    assert exported(reader.get(EXPORT, query)) == expected


@pytest.mark.parametrize(
    "cursor",
    [
        "junk",
        "1.2.3",
        "99999999999999999999999.1",  # beyond the calendar
        "1.0",
        f"1.{2**63}",  # beyond bigint
        "1." + "9" * 5000,  # more digits than int() reads
        "1.\x00",
        "1" * (MAX_CURSOR_LENGTH + 1),
    ],
)
@pytest.mark.parametrize("direction", ["after", "before"])
def test_a_page_link_that_cannot_be_read_shows_the_first_page_and_says_so(
    reader, entries, cursor, direction
):
    for headers in ({}, HTMX):
        response = reader.get(LOG, {direction: cursor}, headers=headers)
        assert listed(response) == [entry.pk for entry in entries]
        assert response.context["page"].notice == CURSOR_DAMAGED
        assert CURSOR_DAMAGED in response.content.decode()


def test_the_links_the_pages_make_are_read_without_a_notice(reader, ams):
    for number in range(60):
        log.record(Kind.LOGIN_FAILED, operator_name=f"n{number}", site=ams)
    first = reader.get(LOG).context["page"]
    older = reader.get(LOG, {"after": first.next_cursor})
    newer = reader.get(LOG, {"before": older.context["page"].previous_cursor})
    for response in (older, newer):
        assert response.context["page"].notice == ""
        assert CURSOR_DAMAGED not in response.content.decode()
    assert len(older.context["rows"]) == 10
