"""What the keyset pages of the patron list and the operator log share: cursors, and the
address their live filters push.

A page link carries a cursor (the last row's sort key). A cursor that cannot be read, from a
damaged, hand-edited or out-of-date link, never fails the request: the page starts over at
the first page and says so (`CURSOR_DAMAGED`, shown by templates/_pager.html).
"""

from urllib.parse import urlencode

from django_htmx.http import push_url

CURSOR_DAMAGED = "This page link is damaged or out of date: here is the first page."
# Longer than any cursor the pages make, and than the request line a server accepts
# (gunicorn: 4094 bytes): reading a longer one is work for nothing.
MAX_CURSOR_LENGTH = 4096
MAX_ID = 2**63 - 1  # bigint, the ids of every table


def is_id(value) -> bool:
    """An id as a cursor may carry it: an integer (not a bool) that a bigint column holds."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


def is_text(value) -> bool:
    """Text that PostgreSQL accepts as a parameter: no NUL character, and encodable as
    UTF-8 (JSON may carry a lone surrogate, which no database text can hold)."""
    if not isinstance(value, str) or "\x00" in value:
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def push_set_parameters(response, request, *, defaults: dict[str, str] | None = None):
    """Answer an htmx filter request with the page's address carrying only the parameters
    that are set (HX-Push-Url wins over the form's hx-push-url, which pushes every empty
    field the form sends: ?q=x&status=&group=&...). Parameters equal to `defaults` go too."""
    defaults = defaults or {}
    kept = [
        (name, value)
        for name, values in request.GET.lists()
        for value in values
        if value.strip() and defaults.get(name) != value
    ]
    url = f"{request.path}?{urlencode(kept)}" if kept else request.path
    return push_url(response, url)
