"""Writing the operator log (security.models.OperatorAction). Services call `record` for
every staff action they perform; sign-in events come from auth signals. The client address
comes from the request being served (set by security.middleware.OperatorLogMiddleware), so
services need no request.

What changed goes in `details` as {"changes": {field: [old, new]}}: take `snapshot(obj,
fields)` before the change and pass `changes(before, obj)` to `record` after it. Fields in
SECRET_FIELDS are only ever "changed", never a value."""

import datetime
import decimal
from contextvars import ContextVar

from django.core.exceptions import FieldDoesNotExist
from django.db.models.fields.files import FieldFile
from django.utils import timezone
from django.utils.text import capfirst

from security.models import OperatorAction

Kind = OperatorAction.Kind

current_ip: ContextVar[str | None] = ContextVar("libstaff_current_ip", default=None)

# Logged as CHANGED only: secrets, and the photo (personal data; its file name tells nothing).
SECRET_FIELDS = frozenset({"password", "pin", "photo"})
CHANGED = "changed"


def record(
    action: str,
    *,
    operator=None,
    patron=None,
    obj=None,
    site=None,
    details: dict | None = None,
    operator_name: str = "",
) -> OperatorAction:
    """Append one action to the log. `obj` is the group, grant, site... acted on (a patron
    goes in `patron`); `details` holds what changed, as JSON (never a password).

    Without `obj`, the patron is the object too: its name and barcode stay in the entry
    when the patron's deletion empties the link. The entry belongs to `site`, else to the
    patron's home site, else to the operator's: the log's readers see the entries of the
    sites within their scope."""
    obj = obj if obj is not None else patron
    return OperatorAction.objects.create(
        action=action,
        operator=operator,
        operator_name=operator_name or _name_of(operator),
        patron=patron,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=_describe(obj)[:200] if obj is not None else "",
        site_id=site.pk if site is not None else _home_site_id(patron) or _home_site_id(operator),
        ip_address=current_ip.get(),
        details=details or {},
    )


# A script hammering a URL writes one line a minute, not one a request.
REFUSAL_INTERVAL = datetime.timedelta(minutes=1)


def record_refusal(*, operator, action: str, target: str, details: dict) -> None:
    """A write the application refused (403, or 404 for something out of scope): who
    (`operator`, None when not signed in: then the address), what (`action`, the URL's
    name), on what (`target`, the URL's object ids). At most one line per operator (or
    address), action and target in REFUSAL_INTERVAL."""
    operator = operator if operator is not None and operator.is_authenticated else None
    recent = OperatorAction.objects.filter(
        action=Kind.REFUSED,
        at__gte=timezone.now() - REFUSAL_INTERVAL,
        object_type=action[:64],
        object_id=target[:64],
    )
    if operator is not None:
        recent = recent.filter(operator=operator)
    else:
        recent = recent.filter(operator__isnull=True, ip_address=current_ip.get())
    if recent.exists():
        return
    OperatorAction.objects.create(
        action=Kind.REFUSED,
        operator=operator,
        operator_name=_name_of(operator),
        object_type=action[:64],
        object_id=target[:64],
        object_repr=details.get("path", "")[:200],
        site_id=_home_site_id(operator),
        ip_address=current_ip.get(),
        details=details,
    )


def snapshot(obj, fields) -> dict:
    """The values of `fields` (names of fields of obj, many-to-many included) to compare
    with after a change."""
    return {name: _value(obj, name) for name in fields}


def changes(before: dict, obj) -> dict:
    """Log details naming what changed since `snapshot`: old and new values of plain fields,
    only CHANGED for secret ones."""
    changed = {}
    for name, old in before.items():
        new = _value(obj, name)
        if new != old:
            changed[name] = CHANGED if name in SECRET_FIELDS else [old, new]
    return {"changes": changed}


def _value(obj, name: str):
    """A field's value as JSON: related rows by their name, dates as ISO text."""
    field = obj._meta.get_field(name)
    if field.many_to_many:
        return sorted(str(related) for related in getattr(obj, name).all())
    value = getattr(obj, name)
    if field.is_relation:
        return str(value) if value is not None else None
    if isinstance(value, FieldFile):
        return value.name or ""
    if isinstance(value, datetime.date | datetime.time | decimal.Decimal):
        return str(value)
    return value


# --- presenting what changed (the operator log, and a patron record's History tab) -------


def _field(model, name: str):
    try:
        return model._meta.get_field(name) if model is not None else None
    except FieldDoesNotExist:
        return None


def field_label(model, name: str) -> str:
    field = _field(model, name)
    verbose = getattr(field, "verbose_name", None) or name.replace("_", " ")
    return capfirst(str(verbose))


def shown_value(model, name: str, value) -> str:
    field = _field(model, name)
    if value in (None, "", []):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key}: {shown_value(None, key, item)}" for key, item in value.items())
    if getattr(field, "choices", None):
        return str(dict(field.flatchoices).get(value, value))
    return str(value)


def _describe(obj) -> str:
    barcode = getattr(obj, "barcode", None)  # a patron: their name alone may be ambiguous
    return f"{obj} ({barcode})" if barcode else str(obj)


def _home_site_id(patron) -> int | None:
    return getattr(patron, "home_site_id", None)


def _name_of(operator) -> str:
    if operator is None:
        return ""
    return operator.get_username() or operator.display_name
