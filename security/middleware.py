from django.shortcuts import redirect
from django.urls import reverse

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
