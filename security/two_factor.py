"""Two-factor sign-in (TOTP through django-otp) for operators at or above the level the
preferences name (security.preferences.two_factor_required).

An operator who uses it has one confirmed TOTPDevice (their authenticator app) and one
StaticDevice of single-use recovery codes. While they set up, an unconfirmed TOTPDevice
holds the secret shown on the set-up page: one for each session that sets up, named by that
session alone (its id is kept in the session), so that a password alone never learns the
secret the user confirms in their own session. Within a session it is reused until
confirmed: the QR code does not change on reload. Recovery codes are shown once, when they
are made; only django-otp's own table keeps them afterwards.

Checking a code is never done inside a transaction that a refusal would roll back:
django-otp counts failures on the device (exponential back-off) and that count must stick.
"""

import base64
import datetime
import math
from dataclasses import dataclass, field

import django_otp
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from security import log, policy, preferences

Kind = log.Kind

AUTHENTICATOR_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"
RECOVERY_CODE_COUNT = 10

CODE_REFUSED = (
    "That code was not accepted. Type the code your authenticator app shows now, "
    "or one of your unused recovery codes."
)
THROTTLED = "Too many wrong codes. Wait {seconds} seconds, then try again."


@dataclass(frozen=True)
class Outcome:
    device: object | None = None  # the django-otp device that accepted the code
    codes: list[str] = field(default_factory=list)  # recovery codes made (set-up only)
    refusal: str = ""

    @property
    def accepted(self) -> bool:
        return self.device is not None


def is_required(user) -> bool:
    """Whether this signed-in user must prove a second factor. Patrons never do, and
    nothing is read for them; operators' levels come with the user (select_related)."""
    return user.is_authenticated and preferences.two_factor_required(user.level)


def is_owed(user) -> bool:
    """Whether this session still owes the second factor (OTPMiddleware sets is_verified)."""
    verified = getattr(user, "is_verified", None)
    if verified is not None and verified():
        return False  # no preference read for a verified session
    return is_required(user)


def has_device(user) -> bool:
    """Whether the user has set up two-factor sign-in (a confirmed device)."""
    return django_otp.user_has_device(user, confirmed=True)


@dataclass(frozen=True)
class Status:
    set_up_on: datetime.datetime | None
    recovery_codes_left: int

    @property
    def is_set_up(self) -> bool:
        return self.set_up_on is not None


def two_factor_status(patron) -> Status:
    """When the patron's authenticator was set up and how many recovery codes they have
    left. Two queries."""
    codes_left = StaticToken.objects.filter(device__user=patron, device__confirmed=True).count()
    return Status(set_up_on=two_factor_set_up_on(patron), recovery_codes_left=codes_left)


def two_factor_set_up_on(patron) -> datetime.datetime | None:
    """When the patron's authenticator was set up; None when it is not. One query."""
    return (
        TOTPDevice.objects.filter(user=patron, confirmed=True)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )


# --- setting up --------------------------------------------------------------------------


def pending_device(user, *, pending_id=None) -> TOTPDevice:
    """The unconfirmed authenticator of one set-up attempt: the one `pending_id` names (the
    id the set-up's session keeps) while it is still the user's and unconfirmed, else a new
    one with a new secret. Never another attempt's: whoever else sets up, with the same
    password in another session, sees and confirms a secret of their own.

    Making one also drops the user's unconfirmed devices older than a session lives
    (SESSION_COOKIE_AGE): no session can name them any more."""
    if isinstance(pending_id, int):
        device = TOTPDevice.objects.filter(pk=pending_id, user=user, confirmed=False).first()
        if device is not None:
            return device
    expired = timezone.now() - datetime.timedelta(seconds=settings.SESSION_COOKIE_AGE)
    TOTPDevice.objects.filter(user=user, confirmed=False, created_at__lt=expired).delete()
    return TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, confirmed=False)


def secret_groups(device: TOTPDevice) -> list[str]:
    """The secret in base32, in groups of four, for typing into an app by hand."""
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return [secret[i : i + 4] for i in range(0, len(secret), 4)]


def authenticator_confirm(*, user, device: TOTPDevice, token: str) -> Outcome:
    """Confirms the pending device with a code from the app; then the user's other devices
    go and ten new recovery codes are made, returned in the outcome to be shown once."""
    if device.user_id != user.pk or device.confirmed:
        return Outcome(refusal=CODE_REFUSED)
    locked_until = _locked_until([device])
    if not device.verify_token(normalise(token)):
        return _refused(user, locked_until, step="set-up")
    return Outcome(device=device, codes=_enrol(user=user, device=device))


@transaction.atomic
def _enrol(*, user, device: TOTPDevice) -> list[str]:
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    StaticDevice.objects.filter(user=user).delete()
    recovery = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME)
    codes = _new_codes(recovery)
    log.record(Kind.TWO_FACTOR_ENROLLED, operator=user, patron=user)
    return codes


# --- signing in --------------------------------------------------------------------------


def two_factor_verify(*, user, token: str) -> Outcome:
    """Checks a code from the authenticator or an unused recovery code (spent by its use).
    While django-otp throttles the user's devices after wrong codes, every code is refused
    and the message says how long to wait."""
    locked_until = _locked_until(django_otp.devices_for_user(user))
    device = django_otp.match_token(user, normalise(token))
    if device is None:
        return _refused(user, locked_until, step="sign-in")
    return Outcome(device=device)


def _refused(user, locked_until, *, step: str) -> Outcome:
    """A refusal, logged without the code."""
    throttled = locked_until is not None
    log.record(
        Kind.TWO_FACTOR_FAILED,
        operator=user,
        patron=user,
        details={"step": step, "throttled": throttled},
    )
    if not throttled:
        return Outcome(refusal=CODE_REFUSED)
    seconds = math.ceil((locked_until - timezone.now()).total_seconds())
    return Outcome(refusal=THROTTLED.format(seconds=max(1, seconds)))


def normalise(token: str) -> str:
    """Codes as people type them: "123 456", "ABCD-EFGH" or with spaces around."""
    return "".join(token.split()).replace("-", "").lower()


def _locked_until(devices) -> datetime.datetime | None:
    """The latest end of django-otp's back-off among these devices, if one applies now."""
    ends = []
    for device in devices:
        allowed, data = device.verify_is_allowed()
        if not allowed and data and data.get("locked_until"):
            ends.append(data["locked_until"])
    return max(ends, default=None)


# --- recovery codes and reset ------------------------------------------------------------


@transaction.atomic
def recovery_codes_renew(*, user) -> list[str]:
    """Ten new recovery codes for the user; the old ones stop working."""
    device, _ = StaticDevice.objects.get_or_create(
        user=user, name=RECOVERY_DEVICE_NAME, defaults={"confirmed": True}
    )
    device.token_set.all().delete()
    codes = _new_codes(device)
    log.record(Kind.RECOVERY_CODES_RENEWED, operator=user, patron=user)
    return codes


@transaction.atomic
def two_factor_reset(*, actor, patron) -> None:
    """Deletes every OTP device of the patron (a District Administrator's help for a lost
    phone). Sessions they verified lose their verification: they set it up again at their
    next request."""
    policy.require(actor, policy.RESET_TWO_FACTOR, patron)
    for model in django_otp.device_classes():
        model.objects.filter(user=patron).delete()
    log.record(Kind.TWO_FACTOR_RESET, operator=actor, patron=patron)


def _new_codes(device: StaticDevice) -> list[str]:
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes
