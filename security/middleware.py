import ipaddress
import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME, logout
from django.core.exceptions import PermissionDenied
from django.http import Http404, QueryDict
from django.shortcuts import redirect, resolve_url
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django_htmx.http import HttpResponseClientRedirect

from security import log, preferences, two_factor
from security.views.two_factor import second_factor_url

# Pages a patron who must change their password can still reach.
_ALLOWED_URL_NAMES = ("password_change", "password_change_done", "logout")


class ForcePasswordChangeMiddleware:
    """Honours "force password change at next login": until the password is changed,
    every page leads to the password change form. Identity first: a session that still
    owes the second sign-in step (TwoFactorMiddleware, which runs before this one and
    leads every other page there) reaches the two-factor pages, and the password change
    comes right after them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and user.must_change_password
            and not _open_before_password_change(request, user)
        ):
            return _whole_page_redirect(request, reverse("password_change"))
        return self.get_response(request)


def _open_before_password_change(request, user) -> bool:
    allowed = {reverse(name) for name in _ALLOWED_URL_NAMES}
    if request.path in allowed or request.path.startswith("/static/"):
        return True
    return _exempt(request) and two_factor.is_owed(user)


def client_ip(request) -> str | None:
    """The client's address: REMOTE_ADDR, or with LIBSTAFF_TRUSTED_PROXIES = n > 0 reverse
    proxies in front, the address the outermost of them saw.

    Each proxy appends the address it received from to X-Forwarded-For, so of
    [X-Forwarded-For..., REMOTE_ADDR] the last n entries are our proxies and the one before
    them is the client; anything further left was sent by the client and may be forged.
    A request with fewer entries did not come through the proxies: REMOTE_ADDR then.
    Returns None for anything that is not an IP address. Also django-axes' client address
    (AXES_CLIENT_IP_CALLABLE), so that lockouts count per client, not per proxy."""
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.LIBSTAFF_TRUSTED_PROXIES
    hops = [*request.META.get("HTTP_X_FORWARDED_FOR", "").split(","), remote] if proxies else []
    hops = [hop.strip() for hop in hops if hop.strip()]
    address = hops[-proxies - 1] if proxies and len(hops) > proxies else remote
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


class OperatorLogMiddleware:
    """Makes the client address known to security.log for the request being served."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = log.current_ip.set(client_ip(request))
        try:
            return self.get_response(request)
        finally:
            log.current_ip.reset(token)


class RefusalLogMiddleware:
    """Every refused write lands in the operator log (security.log.record_refusal): an
    unsafe request to one of our URLs answered 403, or 404 (what is out of scope is "not
    found"). After AuthenticationMiddleware; the refusal's message, when a view raised
    one, goes with it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        if (
            request.method not in ("GET", "HEAD", "OPTIONS", "TRACE")
            and response.status_code in (403, 404)
            and match is not None
        ):
            _log_refusal(request, response, match)
        return response

    def process_exception(self, request, exception):
        if isinstance(exception, PermissionDenied | Http404):
            request._libstaff_refusal = str(exception)


def _log_refusal(request, response, match) -> None:
    details = {"method": request.method, "path": request.path[:200], "status": response.status_code}
    reason = getattr(request, "_libstaff_refusal", "")
    if reason:
        details["reason"] = reason[:300]
    target = ",".join(f"{key}={value}" for key, value in sorted(match.kwargs.items()))
    log.record_refusal(
        operator=getattr(request, "user", None),
        action=match.view_name or "",
        target=target,
        details=details,
    )


class PreferencesMiddleware:
    """Reads the preferences at most once per request (security.preferences)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with preferences.request_scope():
            return self.get_response(request)


# Pages an operator who still owes the second factor can reach.
_SECOND_FACTOR_URL_NAMES = ("two_factor_verify", "two_factor_setup", "logout")


class TwoFactorMiddleware:
    """Operators whose level requires two-factor sign-in (security.two_factor.is_required)
    reach nothing but the two-factor pages, sign-out and static files until this session is
    verified (django-otp's OTPMiddleware, earlier in the chain, tells). Before
    ForcePasswordChangeMiddleware: identity is proven before a forced password change.

    A verified session costs nothing more here; patrons cost no query; other operators
    the preferences, read once per request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and two_factor.is_owed(user) and not _exempt(request):
            return _to_second_factor(request)
        return self.get_response(request)


def _exempt(request) -> bool:
    allowed = {reverse(name) for name in _SECOND_FACTOR_URL_NAMES}
    return request.path in allowed or request.path.startswith(settings.STATIC_URL)


def _to_second_factor(request):
    return _whole_page_redirect(request, second_factor_url(request))


def _whole_page_redirect(request, url: str):
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(url)  # a whole page, not a swap into a tab
    return redirect(url)


# --- Shared library computers: no stored pages, idle sessions end ---------------------

SIGNED_OUT_IDLE = (
    "You were signed out after {minutes} minutes without activity, so that the next person "
    "at this computer cannot use your account. Sign in again to continue."
)
ACTIVITY_KEY = "libstaff_last_activity"  # in the session: when it was last used (epoch s)
ACTIVITY_RESOLUTION = 60  # seconds: the stamp is rewritten at most once a minute


class NoStoreMiddleware:
    """`Cache-Control: private, no-store` on everything Django answers: records, the
    dashboard, /me/, exports, even the sign-in form (its CSRF token). No browser or proxy
    keeps a copy that the next person at a shared computer could bring back with Back.
    Static files are answered by WhiteNoise, earlier in the chain, and stay cacheable."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        patch_cache_control(response, private=True, no_store=True)
        return response


def idle_minutes(user) -> int:
    if user.is_operator:
        return settings.LIBSTAFF_STAFF_IDLE_MINUTES
    return settings.LIBSTAFF_PATRON_IDLE_MINUTES


class IdleSessionMiddleware:
    """Signs out a session left unused longer than its idle limit (idle_minutes) and sends
    its browser to sign in with SIGNED_OUT_IDLE. The server decides, from a stamp kept in
    the session (set at sign-in by stamp_on_login), so a browser that restores its cookies
    or is left open does not matter.

    The stamp is refreshed only when older than ACTIVITY_RESOLUTION, so most requests write
    no session row; an idle session may therefore end up to that much early. Before the
    two-factor and forced-password-change steps: an abandoned session ends, it is not led
    on."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            stamp = request.session.get(ACTIVITY_KEY)
            minutes = idle_minutes(user)
            if stamp is not None and time.time() - stamp > minutes * 60:
                return _sign_out_idle(request, minutes)
            _stamp_activity(request.session)
        return self.get_response(request)


def stamp_on_login(sender, request, user, **kwargs):
    """A new session starts its idle time at sign-in (a user_logged_in receiver)."""
    if request is not None and hasattr(request, "session"):
        request.session[ACTIVITY_KEY] = int(time.time())


def _stamp_activity(session) -> None:
    now = int(time.time())
    stamp = session.get(ACTIVITY_KEY)
    if stamp is None or now - stamp >= ACTIVITY_RESOLUTION:
        session[ACTIVITY_KEY] = now


def _sign_out_idle(request, minutes: int):
    logout(request)
    messages.info(request, SIGNED_OUT_IDLE.format(minutes=minutes))
    url = resolve_url(settings.LOGIN_URL)
    if request.method == "GET" and request.path != url:
        query = QueryDict(mutable=True)
        query[REDIRECT_FIELD_NAME] = request.get_full_path()
        url = f"{url}?{query.urlencode(safe='/')}"  # as Django's redirect_to_login
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(url)  # the sign-in page, not a swap into a tab
    return redirect(url)
