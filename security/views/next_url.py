"""The page to go on to after a step (?next= or a posted "next"): only a path on this
site, never another host, so that a crafted link cannot send someone elsewhere."""

from django.conf import settings
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme


def is_safe(request, url: str) -> bool:
    allowed = url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return allowed and url.startswith("/")


def safe_next(request) -> str:
    """The requested next page when it is safe, else the page after sign-in."""
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    return wanted if is_safe(request, wanted) else resolve_url(settings.LOGIN_REDIRECT_URL)
