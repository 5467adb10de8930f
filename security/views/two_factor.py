"""Two-factor sign-in pages: the second step of signing in, setting up an authenticator,
one's own status and recovery codes, and a District Administrator's reset of another
operator's. Who must use it is security.two_factor.is_required; TwoFactorMiddleware sends
them here until they have proved it."""

from urllib.parse import urlencode

import django_otp
import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from patrons.models import Patron
from security import policy, two_factor
from security.forms.two_factor import ConfirmForm, VerifyForm
from security.views.next_url import is_safe, safe_next

RESET_DONE = "Two-factor sign-in reset for {name}: they set it up again when they next sign in."
QR_TITLE = "QR code to scan with your authenticator app"

# The id of the unconfirmed authenticator this session is setting up (two_factor.pending_device).
PENDING_DEVICE_SESSION_KEY = "libstaff_two_factor_pending_device"


def second_factor_url(request) -> str:
    """Where an operator who still owes the second factor goes (verify, or set up when they
    have no device yet), with the page they asked for as next= when it is safe."""
    name = "two_factor_verify" if two_factor.has_device(request.user) else "two_factor_setup"
    wanted = request.get_full_path()
    return _with_next(name, wanted if is_safe(request, wanted) else "")


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def two_factor_verify(request):
    user = request.user
    next_url = safe_next(request)
    if user.is_verified() or not two_factor.is_required(user):
        return redirect(next_url)
    if not two_factor.has_device(user):
        return redirect(_with_next("two_factor_setup", next_url))
    form = VerifyForm(request.POST or None)
    if form.is_bound and form.is_valid():
        outcome = two_factor.two_factor_verify(user=user, token=form.cleaned_data["code"])
        if outcome.accepted:
            _verified(request, outcome.device)
            return redirect(next_url)
        form.refuse(outcome.refusal)
    status = 422 if form.errors else 200
    context = {"form": form, "next": next_url}
    return render(request, "security/two_factor_verify.html", context, status=status)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def two_factor_setup(request):
    """First set-up, or a new authenticator for a verified operator. Someone who has a
    device but has not proved it in this session must verify first: a password alone never
    replaces an authenticator. The secret shown, and the only one this session can confirm,
    is this session's own (PENDING_DEVICE_SESSION_KEY)."""
    user = request.user
    if not two_factor.is_required(user):
        raise Http404
    next_url = safe_next(request)
    replacing = user.is_verified()
    if not replacing and two_factor.has_device(user):
        return redirect(_with_next("two_factor_verify", next_url))
    pending_id = request.session.get(PENDING_DEVICE_SESSION_KEY)
    device = two_factor.pending_device(user, pending_id=pending_id)
    if device.pk != pending_id:
        request.session[PENDING_DEVICE_SESSION_KEY] = device.pk
    form = ConfirmForm(request.POST or None)
    if form.is_bound and form.is_valid():
        outcome = two_factor.authenticator_confirm(
            user=user, device=device, token=form.cleaned_data["code"]
        )
        if outcome.accepted:
            del request.session[PENDING_DEVICE_SESSION_KEY]
            _verified(request, outcome.device)
            return _show_codes(request, outcome.codes, next_url, renewed=False)
        form.refuse(outcome.refusal)
    context = {
        "form": form,
        "next": next_url,
        "replacing": replacing,
        "qr_svg": segno.make(device.config_url, error="m").svg_inline(
            scale=4, border=2, title=QR_TITLE, svgclass="qr-code-image"
        ),
        "secret_groups": two_factor.secret_groups(device),
    }
    status = 422 if form.errors else 200
    return render(request, "security/two_factor_setup.html", context, status=status)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def two_factor_manage(request):
    """One's own two-factor sign-in: since when, recovery codes left; POST renews them.
    For verified sessions (TwoFactorMiddleware sends a required operator who is not yet
    verified to verify first); nobody else uses two-factor sign-in."""
    user = request.user
    if not user.is_verified():
        raise Http404
    if request.method == "POST":
        codes = two_factor.recovery_codes_renew(user=user)
        return _show_codes(request, codes, reverse("two_factor"), renewed=True)
    status = two_factor.two_factor_status(user)
    return render(request, "security/two_factor_status.html", {"status": status})


@login_required
@require_http_methods(["GET", "POST"])
def two_factor_reset(request, pk: int):
    """A confirmation page naming the operator, then the reset (POST)."""
    policy.require(request.user, policy.RESET_TWO_FACTOR)
    patron = policy.get_or_404(
        request.user,
        policy.RESET_TWO_FACTOR,
        Patron.objects.select_related("security_group", "home_site"),
        pk=pk,
    )
    if request.method == "POST":
        two_factor.two_factor_reset(actor=request.user, patron=patron)
        messages.success(request, RESET_DONE.format(name=patron.display_name))
        return redirect("patrons:tab", pk=patron.pk, tab="access")
    context = {"patron": patron, "set_up_on": two_factor.two_factor_set_up_on(patron)}
    return render(request, "security/two_factor_reset.html", context)


def _verified(request, device) -> None:
    """Marks the session verified by `device`, under a new session key (a step up in
    privilege, as Django's login() does for the password)."""
    request.session.cycle_key()
    django_otp.login(request, device)


def _show_codes(request, codes: list[str], next_url: str, *, renewed: bool):
    """The recovery codes, rendered from the request that made them: shown once."""
    context = {"codes": codes, "next": next_url, "renewed": renewed}
    return render(request, "security/two_factor_codes.html", context)


def _with_next(url_name: str, next_url: str) -> str:
    url = reverse(url_name)
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url
