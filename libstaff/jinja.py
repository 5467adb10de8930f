"""The Jinja2 environment of the hottest fragments (TEMPLATES' "jinja2" engine, templates in
`jinja_templates/`), rendered inside Django templates by `{% jinja "name" %}`.

Only loops over many rows live there: the Django template engine spends about a
millisecond a row on a row of ten cells, Jinja2 a tenth of that. Everything else stays a
Django template. The filters have the Django templates' names and output."""

import datetime
import functools

from django.template import defaultfilters, engines
from django.urls import reverse
from django.utils import dateformat, formats, timezone, translation
from jinja2 import Environment, pass_context

from fines.money import format_money


def environment(**options) -> Environment:
    env = Environment(**options)  # noqa: S701 (Django's backend turns autoescape on)
    env.globals["url"] = url
    env.filters.update(
        date=date,
        linebreaksbr=functools.partial(defaultfilters.linebreaksbr, autoescape=True),
        money=format_money,
        pluralize=defaultfilters.pluralize,
    )
    return env


ZONE, LANGUAGE = "_time_zone", "_language"


def render_fragment(name: str, values: dict) -> str:
    """Without the request: the Django template's context already holds it, and its
    `csrf_token`, read once a page (the backend would mask a new token each fragment)."""
    fragment = engines["jinja2"].get_template(name).render(fragment_context(values))
    return as_django_escapes(fragment)


def as_django_escapes(fragment: str) -> str:
    """markupsafe writes ' and " as &#39; and &#34;, Django as &#x27; and &quot;: the same
    characters, made the same bytes as the Django templates' output. (Text that reads
    "&#39;" was itself escaped to "&amp;#39;", so only escapes are changed.)"""
    return fragment.replace("&#39;", "&#x27;").replace("&#34;", "&quot;")


def fragment_context(values: dict) -> dict:
    """The values, with the time zone and language the filters read once a render."""
    return {**values, ZONE: timezone.get_current_timezone(), LANGUAGE: translation.get_language()}


def url(name: str, *args) -> str:
    return reverse(name, args=args)


@pass_context
def date(context, value, format_name: str = "DATE_FORMAT") -> str:
    """Django's `date` filter: in the current time zone, in the active locale's format.
    Days are memoised (Django takes ~40 us a date, and a page of fees shows the same few
    days); the zone and the language are read once a render, not once a date."""
    if value in (None, ""):
        return ""
    if isinstance(value, datetime.datetime) and timezone.is_aware(value):
        value = value.astimezone(context[ZONE])
    pattern = _pattern(format_name, context[LANGUAGE])
    if not isinstance(value, datetime.datetime):
        return _formatted_day(value, pattern)
    if _shows_date_only(pattern):
        return _formatted_day(value.date(), pattern)
    # Not memoised: aware datetimes in different zones are equal, and would share a result.
    return dateformat.format(value, pattern)


@functools.lru_cache(maxsize=64)
def _pattern(format_name: str, language: str | None) -> str:
    return formats.get_format(format_name, lang=language)


_DATE_LETTERS = frozenset("dDjlLNSwzWFmMnbEtyYo")


@functools.lru_cache(maxsize=64)
def _shows_date_only(pattern: str) -> bool:
    return "\\" not in pattern and all(c in _DATE_LETTERS or not c.isalpha() for c in pattern)


@functools.lru_cache(maxsize=4096)
def _formatted_day(day: datetime.date, pattern: str) -> str:
    return dateformat.format(day, pattern)
