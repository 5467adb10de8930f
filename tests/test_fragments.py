"""The project's own plumbing for fast pages (issue "Proof at scale"): the Jinja2 fragments
and their filters, the model select's plain query, and the history context kept to writes.
What a user sees must not change: the fragments write what the Django templates wrote."""

import datetime
from decimal import Decimal

import pytest
from django import forms
from django.apps import apps
from django.db import connection
from django.template import Context, Template, engines
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from libstaff.jinja import as_django_escapes, fragment_context
from sites.models import Site
from tests.factories import PatronFactory
from tests.tab_posts import personal_data, tab_url

MIDNIGHT_UTC = datetime.datetime(2026, 3, 1, 0, 30, tzinfo=datetime.UTC)
MOMENTS = [
    MIDNIGHT_UTC,  # the day before in America, the same day in Europe
    datetime.datetime(2026, 12, 31, 23, 59, 59, tzinfo=datetime.UTC),
    None,
]
DAY = datetime.date(2026, 2, 28)  # a date has no time to show: date formats only
DATE_FORMATS = {"SHORT_DATE_FORMAT", "DATE_FORMAT", "Y-m-d"}


def django_date(value, format_name: str) -> str:
    return Template("{{ value|date:format_name }}").render(
        Context({"value": value, "format_name": format_name})
    )


def jinja_date(value, format_name: str) -> str:
    fragment = engines["jinja2"].from_string("{{ value|date(format_name) }}")
    return fragment.render(fragment_context({"value": value, "format_name": format_name}))


@pytest.mark.parametrize("zone", ["UTC", "America/Los_Angeles", "Pacific/Auckland"])
@pytest.mark.parametrize("language", ["en-us", "fr", "de"])
@pytest.mark.parametrize(
    "format_name", ["SHORT_DATE_FORMAT", "SHORT_DATETIME_FORMAT", "DATE_FORMAT", "Y-m-d", "H:i"]
)
def test_the_jinja_date_filter_writes_what_django_writes(zone, language, format_name):
    with timezone.override(zone), translation.override(language):
        values = [*MOMENTS, DAY] if format_name in DATE_FORMATS else MOMENTS
        for value in values:
            assert jinja_date(value, format_name) == django_date(value, format_name), value


def test_a_date_is_written_in_the_current_zone_not_in_utc():
    with timezone.override("America/Los_Angeles"):
        assert jinja_date(MIDNIGHT_UTC, "Y-m-d") == "2026-02-28"
    with timezone.override("Europe/Paris"):
        assert jinja_date(MIDNIGHT_UTC, "Y-m-d") == "2026-03-01"


def test_the_fragments_escape_what_they_show_as_django_does():
    fragment = engines["jinja2"].from_string("<td>{{ name }}</td>")
    name = '<script>O\'Brien & "Co"</script>'
    html = as_django_escapes(fragment.render(fragment_context({"name": name})))
    assert html == Template("<td>{{ name }}</td>").render(Context({"name": name}))
    assert html == "<td>&lt;script&gt;O&#x27;Brien &amp; &quot;Co&quot;&lt;/script&gt;</td>"


def test_the_money_filter_is_the_django_one():
    fragment = engines["jinja2"].from_string("{{ amount|money }}")
    assert fragment.render(fragment_context({"amount": Decimal("1234.5")})) == Template(
        "{% load money %}{{ amount|money }}"
    ).render(Context({"amount": Decimal("1234.5")}))


@pytest.mark.django_db
def test_a_name_on_the_patron_list_is_escaped(client, librarian, ams):
    PatronFactory(last_name="<b>Bold</b>", first_name="<i>it</i>", home_site=ams)
    client.force_login(librarian)
    html = client.get(reverse("patrons:list"), {"q": "Bold"}).content.decode()
    assert "&lt;b&gt;Bold&lt;/b&gt;, &lt;i&gt;it&lt;/i&gt;" in html
    assert "<b>Bold" not in html


class SiteForm(forms.Form):
    site = forms.ModelChoiceField(Site.objects.order_by("code"))


@pytest.mark.django_db
def test_a_model_select_is_one_plain_query_however_often_it_is_shown(ams, jes):
    form = SiteForm()
    with CaptureQueriesContext(connection) as queries:
        first, second = str(form["site"]), str(form["site"])
    assert first == second and "AMS" in first and "JES" in first
    assert len(queries) == 1
    assert not queries[0]["sql"].lstrip().upper().startswith("DECLARE")  # no server cursor


@pytest.mark.django_db
def test_each_form_reads_the_choices_afresh(ams):
    assert "AMS" in str(SiteForm()["site"])
    Site.objects.filter(pk=ams.pk).update(name="Renamed Middle School")
    assert "Renamed Middle School" in str(SiteForm()["site"])


@pytest.mark.django_db
def test_a_page_read_sends_no_history_context(client, librarian, ams):
    patron = PatronFactory(home_site=ams)
    client.force_login(librarian)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(tab_url(patron, "personal")).status_code == 200
    assert not [query for query in queries if "pghistory" in query["sql"]]


@pytest.mark.django_db
def test_a_save_still_records_who_made_it_and_where(client, librarian, ams):
    patron = PatronFactory(home_site=ams)
    client.force_login(librarian)
    client.post(tab_url(patron, "personal"), personal_data(patron, first_name="Renamed"))
    events = apps.get_model("patrons", "PatronEvent").objects
    event = events.filter(pgh_obj_id=patron.pk, first_name="Renamed").get()
    assert event.pgh_context.metadata["user"] == librarian.pk
    assert event.pgh_context.metadata["url"] == tab_url(patron, "personal")
