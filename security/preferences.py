"""Reading the library's preferences (security.models.Preferences).

Rules read them often (every password check, every patron save, every staff page for the
two-factor requirement), so within a request they are read once: PreferencesMiddleware
opens a per-request cache and `current()` fills it. Outside a request (commands, tests
calling services) each call reads the row. Nothing is kept between requests: every web
process sees a change at its next request."""

from contextlib import contextmanager
from contextvars import ContextVar

from security.models import BARCODE_SERIAL_DIGITS, Level, Preferences, SecurityGroup

_request_cache: ContextVar[dict | None] = ContextVar("libstaff_preferences", default=None)
_KEY = "preferences"


def current() -> Preferences:
    cache = _request_cache.get()
    if cache is not None and _KEY in cache:
        return cache[_KEY]
    preferences = load()
    if cache is not None:
        cache[_KEY] = preferences
    return preferences


def load() -> Preferences:
    """The row as saved now (a fresh copy, not this request's)."""
    # Migrations create the row; a flushed test database gets a default one.
    preferences, _ = Preferences.objects.select_related("default_group").get_or_create(
        pk=Preferences.SINGLETON_ID
    )
    return preferences


def remember(preferences: Preferences) -> None:
    """After a change: the rest of this request uses the new values."""
    cache = _request_cache.get()
    if cache is not None:
        cache[_KEY] = preferences


@contextmanager
def request_scope():
    token = _request_cache.set({})
    try:
        yield
    finally:
        _request_cache.reset(token)


# --- the rules that read them ------------------------------------------------------------


def email_required(level: int) -> bool:
    return level <= current().email_required_from_level


def needs_home_site_access(level: int) -> bool:
    return level <= current().home_site_access_from_level


def two_factor_required(level: int) -> bool:
    """Patrons never need it: they are not asked, and their pages read no preference."""
    if level >= Level.PATRON:
        return False
    threshold = current().two_factor_from_level
    return threshold is not None and level <= threshold


def default_group() -> SecurityGroup | None:
    """The group new patrons get; the first Patron-level group when none is chosen."""
    chosen = current().default_group
    if chosen is not None:
        return chosen
    return SecurityGroup.objects.filter(level=Level.PATRON).order_by("pk").first()


def barcode_for(serial: int) -> str:
    return f"{current().barcode_prefix}{serial:0{BARCODE_SERIAL_DIGITS}d}"
