"""Sign-in events for the operator log, from Django's auth signals and django-axes'
lockout signal (connected in SecurityConfig.ready)."""

from django.contrib.auth import get_user_model

from security import log

_NAME_LENGTH = 150  # OperatorAction.operator_name


def logged_in(sender, request, user, **kwargs):
    log.record(log.Kind.LOGIN, operator=user)


def logged_out(sender, request, user, **kwargs):
    if user is not None:
        log.record(log.Kind.LOGOUT, operator=user)


def login_failed(sender, credentials, request=None, **kwargs):
    """A wrong name or password. An attempt that locks the account, or is refused because
    it is locked, is logged by `locked_out` instead: django-axes flags the request in its own
    receiver, which runs first. Django has already masked the password in `credentials`;
    only the typed name is kept."""
    if getattr(request, "axes_locked_out", False):
        return
    _record_attempt(log.Kind.LOGIN_FAILED, (credentials or {}).get("username"))


def locked_out(sender, request=None, username=None, **kwargs):
    """`username` is the name django-axes counts under (security.accounts.axes_username);
    the log keeps what was typed, as for a failed sign-in."""
    failures = getattr(request, "axes_failures_since_start", None)
    details = {"failures": failures} if failures else None
    typed = (getattr(request, "axes_credentials", None) or {}).get("username", username)
    _record_attempt(log.Kind.LOCKED_OUT, typed, details)


def _record_attempt(action: str, typed, details: dict | None = None) -> None:
    """The typed name as the operator name (cleaned: it is whatever a client sent); the
    account it signs in to (its username or email), if any, as the patron, so that the
    log's readers at its site see attempts on it and find them by its username
    (security.selectors). Not as the operator: whoever typed it is unknown."""
    typed = str(typed or "").replace("\x00", "").strip()
    name = typed[:_NAME_LENGTH]
    log.record(action, operator_name=name, patron=_account_named(typed), details=details)


def _account_named(name: str):
    patrons = get_user_model().objects
    try:
        return patrons.get_by_natural_key(name)
    except patrons.model.DoesNotExist:
        return None
