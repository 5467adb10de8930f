import ipaddress

from django.conf import settings
from django.shortcuts import redirect
from django.urls import reverse

from security import log, preferences

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
