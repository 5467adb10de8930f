import ipaddress

from django.conf import settings
from django.shortcuts import redirect
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from security import log, preferences, two_factor
from security.views.two_factor import second_factor_url

# Pages a patron who must change their password can still reach.
_ALLOWED_URL_NAMES = ("password_change", "password_change_done", "logout")


class ForcePasswordChangeMiddleware:
    """Honours "force password change at next login": until the password is changed,
    every page leads to the password change form."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.must_change_password:
            allowed = {reverse(name) for name in _ALLOWED_URL_NAMES}
            if request.path not in allowed and not request.path.startswith("/static/"):
                return redirect("password_change")
        return self.get_response(request)


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
    url = second_factor_url(request)
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(url)  # a whole page, not a swap into a tab
    return redirect(url)
