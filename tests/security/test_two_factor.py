"""Two-factor sign-in: who must use it (a preference), the second step after the password
everywhere but its own pages, set-up with a QR code, recovery codes, django-otp's
throttling, and a District Administrator's reset of another operator's.

Sign-ins here go through the login view with a password: `client.force_login` would give
both factors at once (tests/conftest.py)."""

import base64

import pytest
from django.contrib.auth import SESSION_KEY
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from patrons.models import Patron
from security import policy, two_factor
from security.forms.two_factor import VERIFY_LABEL
from security.models import Level, OperatorAction, Preferences
from security.views.two_factor import RESET_DONE
from tests.conftest import authenticator_code
from tests.factories import DEFAULT_PASSWORD, OperatorFactory

pytestmark = pytest.mark.django_db

VERIFY = reverse("two_factor_verify")
SETUP = reverse("two_factor_setup")
MANAGE = reverse("two_factor")
HOME = reverse("home")
Kind = OperatorAction.Kind


def sign_in_with_password(client, user):
    response = client.post(
        reverse("login"), {"username": user.username, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 302
    return client


def enrol(user) -> tuple[TOTPDevice, list[str]]:
    """Sets two-factor sign-in up as the set-up page does: the device and recovery codes."""
    device = two_factor.pending_device(user)
    outcome = two_factor.authenticator_confirm(
        user=user, device=device, token=authenticator_code(device)
    )
    assert outcome.accepted
    return device, outcome.codes


def set_two_factor_from_level(level: int | None) -> None:
    Preferences.objects.update_or_create(
        pk=Preferences.SINGLETON_ID, defaults={"two_factor_from_level": level}
    )


def is_verified(client) -> bool:
    return DEVICE_ID_SESSION_KEY in client.session


@pytest.fixture
def no_throttle(settings):
    """django-otp's back-off off, for tests that type a right code right after a wrong one
    (the back-off has its own test)."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


def failures(user):
    return OperatorAction.objects.filter(action=Kind.TWO_FACTOR_FAILED, patron=user)


# --- who must use it -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("from_level", "level", "required"),
    [
        (Level.LIBRARY_ADMINISTRATOR, Level.DISTRICT_ADMINISTRATOR, True),
        (Level.LIBRARY_ADMINISTRATOR, Level.LIBRARY_ADMINISTRATOR, True),
        (Level.LIBRARY_ADMINISTRATOR, Level.LIBRARIAN, False),
        (Level.LIBRARIAN, Level.LIBRARIAN, True),
        (Level.LIBRARIAN, Level.LIBRARY_STAFF, False),
        (Level.LIBRARY_AIDE, Level.LIBRARY_AIDE, True),
        (Level.LIBRARY_AIDE, Level.PATRON, False),
        (None, Level.DISTRICT_ADMINISTRATOR, False),
    ],
)
def test_the_preference_names_the_lowest_level_asked(ams, from_level, level, required):
    set_two_factor_from_level(from_level)
    user = OperatorFactory(level=level, home_site=ams)
    assert two_factor.is_required(user) is required


def test_by_default_a_library_administrator_is_asked_and_a_librarian_is_not(
    client, library_admin, librarian
):
    assert Preferences.objects.get().two_factor_from_level == Level.LIBRARY_ADMINISTRATOR
    sign_in_with_password(client, library_admin)
    assert client.get(HOME)["Location"].startswith(SETUP)

    other = sign_in_with_password(Client(), librarian)
    assert other.get(HOME).status_code == 200


def test_no_level_is_asked_when_the_preference_is_empty(client, district_admin):
    set_two_factor_from_level(None)
    sign_in_with_password(client, district_admin)
    assert client.get(HOME).status_code == 200
    assert client.get(reverse("admin:index")).status_code == 200


def test_the_preference_at_librarian_asks_librarians_and_not_staff(client, librarian, staff):
    set_two_factor_from_level(Level.LIBRARIAN)
    sign_in_with_password(client, librarian)
    assert client.get(HOME)["Location"].startswith(SETUP)
    staff_client = sign_in_with_password(Client(), staff)
    assert staff_client.get(HOME).status_code == 200


def test_who_is_not_asked_costs_no_device_query(client, librarian, patron):
    for user, page in ((librarian, HOME), (patron, reverse("me"))):
        sign_in_with_password(client, user)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(page).status_code == 200
        assert not [q for q in queries.captured_queries if "otp_" in q["sql"]]
        client.post(reverse("logout"))


def test_asking_about_a_patron_reads_nothing(patron, django_assert_num_queries):
    patron = Patron.objects.select_related("security_group").get(pk=patron.pk)
    with django_assert_num_queries(0):
        assert not two_factor.is_required(patron)


# --- the second step -----------------------------------------------------------------------

SECOND_STEP_FIRST = [
    HOME,
    "/staff/patrons/",
    "/staff/security/groups/",
    "/staff/security/log/",
    "/me/",
    "/accounts/password_change/",
    "/accounts/login/",
    "/admin/",
]


@pytest.mark.parametrize("path", SECOND_STEP_FIRST)
def test_an_unverified_operator_is_sent_to_the_second_step_from_every_page(
    client, library_admin, path
):
    enrol(library_admin)
    sign_in_with_password(client, library_admin)
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith(f"{VERIFY}?next=")


def test_without_a_device_they_are_sent_to_set_up_and_may_sign_out(client, library_admin):
    sign_in_with_password(client, library_admin)
    assert client.get("/staff/patrons/")["Location"] == f"{SETUP}?next=%2Fstaff%2Fpatrons%2F"
    assert client.get(SETUP).status_code == 200
    assert client.get(VERIFY)["Location"] == f"{SETUP}?next=%2F"
    client.post(reverse("logout"))
    assert SESSION_KEY not in client.session


def test_the_second_step_offers_no_staff_sections_until_it_is_done(client, library_admin):
    sign_in_with_password(client, library_admin)
    assert client.get(SETUP).context["staff_navigation"] == []
    device, _ = enrol(library_admin)
    client.post(VERIFY, {"code": authenticator_code(device)})
    labels = [item["label"] for item in client.get(HOME).context["staff_navigation"]]
    assert "Patrons" in labels and "Security" in labels


def test_with_a_device_they_verify_and_cannot_set_up_another(client, library_admin):
    device, _ = enrol(library_admin)
    sign_in_with_password(client, library_admin)
    response = client.get(VERIFY)
    assert response.status_code == 200
    assert VERIFY_LABEL in response.content.decode()
    # A password alone never replaces an authenticator: set-up asks for the current one.
    assert client.get(SETUP)["Location"].startswith(VERIFY)
    assert client.post(SETUP, {"code": "123456"})["Location"].startswith(VERIFY)
    assert list(TOTPDevice.objects.filter(user=library_admin)) == [device]


def test_an_htmx_request_is_sent_to_a_whole_page(client, library_admin, patron):
    enrol(library_admin)
    sign_in_with_password(client, library_admin)
    tab = reverse("patrons:tab", kwargs={"pk": patron.pk, "tab": "personal"})
    response = client.get(tab, headers={"HX-Request": "true"})
    assert response.headers["HX-Redirect"].startswith(f"{VERIFY}?next=")


def test_the_right_code_verifies_the_session_and_leads_to_the_page_asked_for(client, library_admin):
    device, _ = enrol(library_admin)
    sign_in_with_password(client, library_admin)
    asked = client.get("/staff/patrons/?q=ada")["Location"]
    assert asked == f"{VERIFY}?next=%2Fstaff%2Fpatrons%2F%3Fq%3Dada"
    signed_in_session = client.session.session_key

    response = client.post(
        asked, {"code": authenticator_code(device), "next": "/staff/patrons/?q=ada"}
    )

    assert response["Location"] == "/staff/patrons/?q=ada"
    assert is_verified(client)
    assert client.session.session_key != signed_in_session
    assert client.get("/staff/patrons/").status_code == 200
    assert client.get(reverse("admin:index")).status_code == 302  # not a DA: admin login


@pytest.mark.parametrize(
    "next_url", ["https://evil.example/", "//evil.example/", "http://testserver.evil/x"]
)
def test_an_external_next_is_ignored(client, library_admin, next_url):
    device, _ = enrol(library_admin)
    sign_in_with_password(client, library_admin)
    response = client.post(VERIFY, {"code": authenticator_code(device), "next": next_url})
    assert response["Location"] == HOME


def test_a_wrong_code_is_refused_logged_and_changes_nothing(client, library_admin):
    enrol(library_admin)
    sign_in_with_password(client, library_admin)

    response = client.post(VERIFY, {"code": "000000x", "next": "/staff/patrons/"})

    assert response.status_code == 422
    assert two_factor.CODE_REFUSED in response.content.decode()
    assert not is_verified(client)
    assert client.get(HOME)["Location"].startswith(VERIFY)
    entry = failures(library_admin).get()
    assert entry.operator == library_admin
    assert entry.details == {"step": "sign-in", "throttled": False}
    assert "000000" not in str(entry.details) + entry.object_repr


def test_after_wrong_codes_django_otp_refuses_even_the_right_one_for_a_while(
    client, library_admin, settings
):
    settings.OTP_TOTP_THROTTLE_FACTOR = 60
    settings.OTP_STATIC_THROTTLE_FACTOR = 60
    device, codes = enrol(library_admin)
    sign_in_with_password(client, library_admin)
    assert client.post(VERIFY, {"code": "000000"}).status_code == 422

    for right in (authenticator_code(device), codes[0]):
        response = client.post(VERIFY, {"code": right})
        assert response.status_code == 422
        assert "Too many wrong codes. Wait 60 seconds" in response.content.decode()
    assert not is_verified(client)
    assert StaticToken.objects.filter(token=codes[0]).exists()  # refused, so not spent
    assert [entry.details["throttled"] for entry in failures(library_admin).order_by("pk")] == [
        False,
        True,
        True,
    ]


def test_a_recovery_code_signs_in_once(client, library_admin):
    _, codes = enrol(library_admin)
    sign_in_with_password(client, library_admin)
    response = client.post(VERIFY, {"code": f" {codes[0].upper()} "})
    assert response["Location"] == HOME
    assert is_verified(client)
    assert two_factor.two_factor_status(library_admin).recovery_codes_left == 9

    again = sign_in_with_password(Client(), library_admin)
    refused = again.post(VERIFY, {"code": codes[0]})
    assert refused.status_code == 422
    assert not is_verified(again)


# --- setting up ----------------------------------------------------------------------------


def test_set_up_shows_the_same_qr_code_until_a_right_code_confirms_it(
    client, library_admin, no_throttle
):
    sign_in_with_password(client, library_admin)
    first = client.get(f"{SETUP}?next=/staff/patrons/")
    assert first.status_code == 200
    assert first.context["qr_svg"].startswith("<svg")
    assert client.get(SETUP).context["secret_groups"] == first.context["secret_groups"]
    device = TOTPDevice.objects.get(user=library_admin)
    assert not device.confirmed
    secret = "".join(first.context["secret_groups"])
    assert TOTP(base64.b32decode(secret)).token() == TOTP(device.bin_key).token()

    wrong = client.post(SETUP, {"code": "999999x"})
    assert wrong.status_code == 422
    assert two_factor.CODE_REFUSED in wrong.content.decode()
    device.refresh_from_db()
    assert not device.confirmed and not is_verified(client)

    done = client.post(SETUP, {"code": authenticator_code(device), "next": "/staff/patrons/"})

    assert done.status_code == 200
    page = done.content.decode()
    codes = done.context["codes"]
    assert len(codes) == two_factor.RECOVERY_CODE_COUNT == 10
    assert all(code in page for code in codes)
    assert 'href="/staff/patrons/"' in page
    device.refresh_from_db()
    assert device.confirmed
    recovery = StaticDevice.objects.get(user=library_admin)
    assert sorted(recovery.token_set.values_list("token", flat=True)) == sorted(codes)
    assert is_verified(client)
    assert client.get("/staff/patrons/").status_code == 200
    logged = OperatorAction.objects.get(action=Kind.TWO_FACTOR_ENROLLED)
    assert (logged.operator, logged.patron) == (library_admin, library_admin)


def test_a_verified_operator_replaces_their_authenticator(client, library_admin):
    old_device, old_codes = enrol(library_admin)
    client.force_login(library_admin)  # verified by old_device
    assert client.get(SETUP).context["replacing"]
    new_device = TOTPDevice.objects.get(user=library_admin, confirmed=False)

    response = client.post(SETUP, {"code": authenticator_code(new_device)})

    assert response.status_code == 200
    assert list(TOTPDevice.objects.filter(user=library_admin)) == [new_device]
    assert not StaticToken.objects.filter(token__in=old_codes).exists()
    assert client.session[DEVICE_ID_SESSION_KEY] == new_device.persistent_id
    assert not TOTPDevice.objects.filter(pk=old_device.pk).exists()


def test_nobody_else_sets_it_up(client, librarian):
    client.force_login(librarian)
    assert client.get(SETUP).status_code == 404
    assert client.post(SETUP, {"code": "123456"}).status_code == 404
    assert not TOTPDevice.objects.filter(user=librarian).exists()
    assert client.get(MANAGE).status_code == 404


# --- one's own status and recovery codes ---------------------------------------------------


def test_renewing_recovery_codes_stops_the_old_ones(client, library_admin, no_throttle):
    _, old_codes = enrol(library_admin)
    client.force_login(library_admin)
    status = client.get(MANAGE)
    assert status.status_code == 200
    assert "Recovery codes left" in status.content.decode()
    assert reverse("two_factor") in status.content.decode()  # the user menu links to it

    renewed = client.post(MANAGE)

    assert renewed.status_code == 200
    new_codes = renewed.context["codes"]
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    assert all(code in renewed.content.decode() for code in new_codes)
    assert OperatorAction.objects.filter(
        action=Kind.RECOVERY_CODES_RENEWED, patron=library_admin
    ).exists()
    old = sign_in_with_password(Client(), library_admin)
    assert old.post(VERIFY, {"code": old_codes[0]}).status_code == 422
    assert old.post(VERIFY, {"code": new_codes[0]})["Location"] == HOME


def test_renewing_needs_a_verified_session(client, library_admin):
    _, codes = enrol(library_admin)
    sign_in_with_password(client, library_admin)
    assert client.post(MANAGE)["Location"].startswith(VERIFY)
    assert StaticToken.objects.filter(token__in=codes).count() == 10


# --- reset by a District Administrator -----------------------------------------------------


def reset_url(patron) -> str:
    return reverse("security:two_factor_reset", kwargs={"pk": patron.pk})


def devices_of(user) -> int:
    return (
        TOTPDevice.objects.filter(user=user).count()
        + StaticDevice.objects.filter(user=user).count()
    )


def test_a_district_administrator_resets_another_operator(client, district_admin, library_admin):
    enrol(library_admin)
    their_session = sign_in_with_password(Client(), library_admin)
    their_session.post(
        VERIFY, {"code": authenticator_code(TOTPDevice.objects.get(user=library_admin))}
    )
    assert their_session.get(HOME).status_code == 200
    client.force_login(district_admin)

    confirm = client.get(reset_url(library_admin))
    assert confirm.status_code == 200
    assert library_admin.display_name in confirm.content.decode()
    response = client.post(reset_url(library_admin))

    access = reverse("patrons:tab", kwargs={"pk": library_admin.pk, "tab": "access"})
    assert response["Location"] == access
    assert devices_of(library_admin) == 0
    entry = OperatorAction.objects.get(action=Kind.TWO_FACTOR_RESET)
    assert (entry.operator, entry.patron) == (district_admin, library_admin)
    assert RESET_DONE.format(name=library_admin.display_name) in client.get(access).content.decode()
    # Their session lost its verification with the device: set it up again.
    assert their_session.get(HOME)["Location"] == f"{SETUP}?next=%2F"


def test_a_library_administrators_crafted_reset_is_refused(client, library_admin, ams):
    colleague = OperatorFactory(level=Level.LIBRARY_ADMINISTRATOR, home_site=ams)
    enrol(colleague)
    client.force_login(library_admin)
    assert client.get(reset_url(colleague)).status_code == 403
    assert client.post(reset_url(colleague)).status_code == 403
    assert devices_of(colleague) == 2
    assert not OperatorAction.objects.filter(action=Kind.TWO_FACTOR_RESET).exists()


def test_a_district_administrator_cannot_reset_their_own(client, district_admin):
    enrol(district_admin)
    client.force_login(district_admin)
    assert client.get(reset_url(district_admin)).status_code == 403
    assert client.post(reset_url(district_admin)).status_code == 403
    assert devices_of(district_admin) == 2


def test_patrons_and_anonymous_users_cannot_reset(client, patron, library_admin):
    enrol(library_admin)
    assert client.post(reset_url(library_admin))["Location"].startswith(reverse("login"))
    client.force_login(patron)
    assert client.post(reset_url(library_admin)).status_code == 403
    assert devices_of(library_admin) == 2


def test_an_unknown_operator_is_not_found(client, district_admin):
    client.force_login(district_admin)
    assert (
        client.get(reverse("security:two_factor_reset", kwargs={"pk": 999999})).status_code == 404
    )


def test_the_policy_and_its_scope_agree(district_admin, library_admin, librarian, patron):
    for operator in (district_admin, library_admin, librarian, patron):
        allowed = policy.scope(operator, policy.RESET_TWO_FACTOR, Patron)
        for target in (district_admin, library_admin, librarian, patron):
            expected = operator == district_admin and target != district_admin
            assert policy.can(operator, policy.RESET_TWO_FACTOR, target) is expected
            assert allowed.filter(pk=target.pk).exists() is expected


# --- the Access tab, the admin, query counts -----------------------------------------------


def access_tab(client, patron) -> str:
    url = reverse("patrons:tab", kwargs={"pk": patron.pk, "tab": "access"})
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_the_access_tab_shows_the_state_and_the_reset_link(
    client, district_admin, library_admin, librarian, ams
):
    client.force_login(district_admin)
    page = access_tab(client, library_admin)
    assert "Two-factor sign-in:" in page and "not set up yet" in page
    assert reset_url(library_admin) not in page

    enrol(library_admin)
    page = access_tab(client, library_admin)
    assert "set up on" in page and reset_url(library_admin) in page
    assert "Two-factor sign-in:" not in access_tab(client, librarian)  # not asked

    colleague = OperatorFactory(level=Level.LIBRARY_ADMINISTRATOR, home_site=ams)
    client.force_login(colleague)
    page = access_tab(client, library_admin)
    assert "set up on" in page and reset_url(library_admin) not in page


def test_the_admin_shows_no_otp_devices(client, district_admin):
    enrol(district_admin)
    client.force_login(district_admin)
    index = client.get(reverse("admin:index")).content.decode()
    assert "TOTP" not in index and "Static" not in index
    assert client.get("/admin/otp_totp/totpdevice/").status_code == 404
    assert client.get("/admin/otp_static/staticdevice/").status_code == 404


def test_the_verify_page_runs_a_bounded_number_of_queries(
    client, library_admin, no_throttle, django_assert_max_num_queries
):
    """Session, user, preferences, device lookups, the navigation's policy facts; a refusal
    adds the code checks, django-otp's failure counts and the log entry."""
    device, _ = enrol(library_admin)
    sign_in_with_password(client, library_admin)
    with django_assert_max_num_queries(8):
        assert client.get(VERIFY).status_code == 200
    with django_assert_max_num_queries(18):
        assert client.post(VERIFY, {"code": "000000"}).status_code == 422
    code = authenticator_code(device)
    with django_assert_max_num_queries(20):  # and the session under a new key
        assert client.post(VERIFY, {"code": code})["Location"] == HOME


# --- one secret per set-up session ---------------------------------------------------------


def code_from_the_page(response) -> str:
    """What an authenticator app shows once the key on this set-up page is typed into it."""
    secret = base64.b32decode("".join(response.context["secret_groups"]))
    return f"{TOTP(secret).token():06d}"


def test_a_password_alone_never_learns_the_secret_the_user_confirms(library_admin, no_throttle):
    """Session A (someone with the password only) reads the set-up key; the real user, in
    session B, gets a key of their own, and only theirs becomes the authenticator."""
    intruder = sign_in_with_password(Client(), library_admin)
    owner = sign_in_with_password(Client(), library_admin)
    intruder_page = intruder.get(SETUP)
    owner_page = owner.get(SETUP)
    assert intruder_page.context["secret_groups"] != owner_page.context["secret_groups"]
    # Within one session the QR code stays the same on reload.
    assert owner.get(SETUP).context["secret_groups"] == owner_page.context["secret_groups"]

    # A cannot confirm B's device with a code from B's key: A only confirms A's own.
    refused = intruder.post(SETUP, {"code": code_from_the_page(owner_page)})
    assert refused.status_code == 422
    assert two_factor.CODE_REFUSED in refused.content.decode()
    assert not is_verified(intruder)

    done = owner.post(SETUP, {"code": code_from_the_page(owner_page)})
    assert done.status_code == 200 and is_verified(owner)
    confirmed = TOTPDevice.objects.get(user=library_admin, confirmed=True)
    assert two_factor.secret_groups(confirmed) == owner_page.context["secret_groups"]

    # A's key is worth nothing now: set-up asks for the authenticator, which refuses it.
    assert intruder.get(SETUP)["Location"].startswith(VERIFY)
    assert intruder.post(SETUP, {"code": code_from_the_page(intruder_page)})["Location"].startswith(
        VERIFY
    )
    at_verify = intruder.post(VERIFY, {"code": code_from_the_page(intruder_page)})
    assert at_verify.status_code == 422
    assert not is_verified(intruder)
    assert intruder.get(HOME)["Location"].startswith(VERIFY)
    assert list(TOTPDevice.objects.filter(user=library_admin)) == [confirmed]


# --- the second step and a forced password change ------------------------------------------

PASSWORD_CHANGE = reverse("password_change")
NEW_PASSWORD = "Q7x9-2468-Zk31"
REDIRECT_CAP = 10


def landing(client, path: str):
    """The page a browser ends on from `path`, following at most REDIRECT_CAP redirects."""
    response = client.get(path)
    chain = [path]
    while response.status_code == 302:
        assert len(chain) <= REDIRECT_CAP, f"endless redirects: {chain}"
        chain.append(response["Location"])
        response = client.get(response["Location"])
    assert response.status_code == 200, chain
    return response


@pytest.mark.parametrize("has_device", [False, True], ids=["no-device", "device"])
@pytest.mark.parametrize("must_change", [True, False], ids=["must-change", "no-change"])
def test_the_second_step_comes_first_then_the_password_change_then_the_dashboard(
    client, library_admin, has_device, must_change, no_throttle
):
    """Identity first: the second sign-in step, then the forced password change, then the
    dashboard; every page on the way opens instead of redirecting endlessly."""
    device = enrol(library_admin)[0] if has_device else None
    library_admin.must_change_password = must_change
    library_admin.save(update_fields=["must_change_password"])
    sign_in_with_password(client, library_admin)

    step = landing(client, HOME)
    if has_device:
        assert step.request["PATH_INFO"] == VERIFY
        done = client.post(VERIFY, {"code": authenticator_code(device), "next": HOME})
        assert done["Location"] == HOME
    else:
        assert step.request["PATH_INFO"] == SETUP
        done = client.post(SETUP, {"code": code_from_the_page(step), "next": HOME})
        assert done.status_code == 200 and len(done.context["codes"]) == 10
    assert is_verified(client)

    page = landing(client, HOME)
    if must_change:
        assert page.request["PATH_INFO"] == PASSWORD_CHANGE
        changed = client.post(
            PASSWORD_CHANGE,
            {
                "old_password": DEFAULT_PASSWORD,
                "new_password1": NEW_PASSWORD,
                "new_password2": NEW_PASSWORD,
            },
        )
        assert changed["Location"] == reverse("password_change_done")
        assert is_verified(client)  # changing the password keeps the second step
        page = landing(client, HOME)
    assert page.request["PATH_INFO"] == HOME
    library_admin.refresh_from_db()
    assert not library_admin.must_change_password
