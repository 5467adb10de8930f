"""Writing the operator log (security.models.OperatorAction). Services call `record` for
every staff action they perform; sign-in events come from auth signals. The client address
comes from the request being served (set by security.middleware.OperatorLogMiddleware), so
services need no request."""

from contextvars import ContextVar

from security.models import OperatorAction

Kind = OperatorAction.Kind

current_ip: ContextVar[str | None] = ContextVar("libstaff_current_ip", default=None)


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
    goes in `patron`); `details` holds what changed, as JSON (never a password)."""
    return OperatorAction.objects.create(
        action=action,
        operator=operator,
        operator_name=operator_name or _name_of(operator),
        patron=patron,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=str(obj)[:200] if obj is not None else "",
        site=site,
        ip_address=current_ip.get(),
        details=details or {},
    )


def _name_of(operator) -> str:
    if operator is None:
        return ""
    return operator.get_username() or operator.display_name
