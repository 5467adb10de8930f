"""First run (/setup/), signing in and out, and passwords: Django's auth views with
LibStaff's forms and rules."""

import io
import ipaddress

from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.http import Http404
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from patrons.models import Patron
from security import services
from security.forms import (
    LoginForm,
    PasswordChangeForm,
    PasswordResetForm,
    SetPasswordForm,
    SetupForm,
)
from security.middleware import client_ip
from security.models import Level

SETUP_DONE = "LibStaff is set up. Welcome, {name}: you are signed in as District Administrator."
DEMO_LOADED = "Demo data loaded."
DEMO_FAILED = "LibStaff is set up, but the demo data could not be loaded: {error}"
SIGNED_OUT = "You have signed out."
DEMO_PATRONS = 500

_LOGIN_BACKEND = "security.backends.PolicyBackend"


# django-axes' username column (AccessAttempt.username is a varchar(255)).
_LOCKOUT_NAME_LENGTH = 255
_IPV6_PREFIX = 64


def axes_username(request, credentials) -> str:
    """The name django-axes counts failed sign-ins under: per account, whatever identifier
    of it was typed (django-axes asks several times a request: the answer is kept on it)."""
    typed = str((credentials or {}).get("username") or "")
    known = request.__dict__.setdefault("_libstaff_lockout_names", {}) if request else {}
    if typed not in known:
        known[typed] = lockout_name(typed)
    return known[typed]


def lockout_name(typed: str) -> str:
    """The account's lockout name when the typed identifier signs in to one (its username or
    its email in any case, as Patron.objects.get_by_natural_key resolves them at sign-in),
    so that typing the email does not give five more guesses; else the typed name folded
    ("Ada " = "ada"), cut to django-axes' column."""
    typed = typed.replace("\x00", "").strip()
    try:
        account = Patron.objects.get_by_natural_key(typed)
    except Patron.DoesNotExist:
        return typed.lower()[:_LOCKOUT_NAME_LENGTH]
    return account_lockout_name(account)


def account_lockout_name(account: Patron) -> str:
    return (account.username or "").lower()


def axes_client_address(request) -> str | None:
    """The address django-axes counts failed sign-ins per (AXES_CLIENT_IP_CALLABLE): the
    client's (security.middleware.client_ip), an IPv6 one as its /64 network. A /64 is one
    household's or one library's network: counted address by address, a client holding
    one would have 2**64 addresses to spread its guesses over."""
    address = client_ip(request)
    if address is None or ipaddress.ip_address(address).version == 4:
        return address
    return str(ipaddress.ip_network(f"{address}/{_IPV6_PREFIX}", strict=False).network_address)


def is_installed() -> bool:
    """Set up = a District Administrator exists. Until then /setup/ is open."""
    return Patron.objects.filter(security_group__level=Level.DISTRICT_ADMINISTRATOR).exists()


def load_demo_data(stdout=None) -> None:
    call_command("seed_demo", patrons=DEMO_PATRONS, stdout=stdout or io.StringIO())


@require_http_methods(["GET", "POST"])
def setup(request):
    if is_installed():
        raise Http404
    form = SetupForm(request.POST or None)
    if form.is_bound and form.is_valid():
        try:
            admin = services.install_first_district_administrator(**form.service_arguments())
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            return _welcome(request, admin, demo=form.cleaned_data["load_demo"])
    status = 422 if form.errors else 200
    return render(request, "security/setup.html", {"form": form}, status=status)


def _welcome(request, admin: Patron, *, demo: bool):
    login(request, admin, backend=_LOGIN_BACKEND)
    messages.success(request, SETUP_DONE.format(name=admin.get_short_name()))
    if demo:
        try:
            load_demo_data()
        except CommandError as error:
            messages.warning(request, DEMO_FAILED.format(error=error))
        else:
            messages.success(request, DEMO_LOADED)
    return redirect("home")


class _UnprocessableOnError:
    """Invalid input answers 422, as every LibStaff form does."""

    def form_invalid(self, form):
        response = super().form_invalid(form)
        response.status_code = 422
        return response


class LoginView(_UnprocessableOnError, auth_views.LoginView):
    form_class = LoginForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        return super().get_context_data(needs_setup=not is_installed(), **kwargs)

    def get_default_redirect_url(self):
        """Operators land on the dashboard, patrons on their own page."""
        if self.request.user.is_operator:
            return resolve_url(settings.LOGIN_REDIRECT_URL)
        return reverse("me")


class LogoutView(auth_views.LogoutView):
    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        messages.info(request, SIGNED_OUT)
        return response


class PasswordChangeView(_UnprocessableOnError, auth_views.PasswordChangeView):
    """Also clears "force password change at next login" (security.forms)."""

    form_class = PasswordChangeForm


class PasswordResetView(_UnprocessableOnError, auth_views.PasswordResetView):
    """Answers the same whether or not the address belongs to an account."""

    form_class = PasswordResetForm


class PasswordResetConfirmView(_UnprocessableOnError, auth_views.PasswordResetConfirmView):
    form_class = SetPasswordForm

    def form_valid(self, form):
        """Whoever proved they own the address may sign in again at once: the account's
        lockouts from every address end with the reset, and so do those of its email typed
        as a name no account resolves to (an email two accounts share signs in to neither)."""
        response = super().form_valid(form)
        user = form.user
        for name in filter(None, {account_lockout_name(user), user.email.lower()}):
            axes_reset(username=name)
        return response
