"""Cash sessions (open with a float, close with a blind count) and the per-site, per-day
cash report, through the pages, with real payments and refunds."""

import uuid
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from fines import cash_selectors, money, services
from fines.models import CashSession, FeeType, PaymentMethod
from fines.money import MAX_AMOUNT, NOT_A_NUMBER, TOO_MANY_DECIMALS, format_money
from fines.services.cash import (
    COUNT_NEGATIVE,
    FLOAT_NEGATIVE,
    NOT_YOUR_SESSION,
    SESSION_ALREADY_OPEN,
)
from fines.views.cash import CLOSED_RESULT_KEY
from security import working_site
from security.models import Level
from tests.factories import OperatorFactory, PatronFactory

pytestmark = pytest.mark.django_db

CASH_URL = "/staff/fines/cash/"
REPORT_URL = "/staff/fines/cash/report/"
TOO_LARGE = money.TOO_LARGE.format(max=format_money(MAX_AMOUNT))


def key():
    return uuid.uuid4()


@pytest.fixture
def cash():
    return PaymentMethod.objects.get(code="CASH")


@pytest.fixture
def card():
    return PaymentMethod.objects.get(code="CARD")


def charge(actor, patron, site, amount):
    lost = FeeType.objects.get(code="LOST")
    return services.fee_add(
        actor=actor, patron=patron, key=key(), fee_type=lost, owner_site=site, amount=D(amount)
    )


def pay(actor, patron, site, amount, method, tendered=None):
    fee = charge(actor, patron, site, amount)
    return services.fees_pay(
        actor=actor,
        patron=patron,
        key=key(),
        fee_ids=[fee.pk],
        amount=D(amount),
        method=method,
        site=site,
        tendered=None if tendered is None else D(tendered),
    )


def open_post(client, site, opening_float="50.00", **extra):
    return client.post(
        CASH_URL, {"action": "open", "site": site.pk, "opening_float": opening_float, **extra}
    )


def close_post(client, session, counted, note=""):
    return client.post(
        CASH_URL, {"action": "close", "session": session.pk, "counted": counted, "note": note}
    )


# --- who may open a session ---------------------------------------------------------------


def test_url_names():
    assert reverse("fines:cash") == CASH_URL
    assert reverse("fines:cash_report") == REPORT_URL


@pytest.mark.parametrize("role", ["aide", "staff", "librarian", "district_admin"])
def test_operators_holding_pay_open_a_session(client, roles, ams, role):
    operator = roles[role]
    client.force_login(operator)
    assert client.get(CASH_URL).status_code == 200
    response = open_post(client, ams, "25.50")
    assert response.status_code == 302
    session = CashSession.objects.get(operator=operator)
    assert (session.site, session.opening_float, session.is_open) == (ams, D("25.50"), True)


def test_a_patron_has_no_cash_page(client, patron, ams):
    client.force_login(patron)
    assert client.get(CASH_URL).status_code == 403
    assert open_post(client, ams).status_code == 403
    assert not CashSession.objects.exists()


def test_anonymous_is_sent_to_sign_in(client, ams):
    assert client.get(CASH_URL).status_code == 302
    assert open_post(client, ams).status_code == 302
    assert not CashSession.objects.exists()


def test_an_operator_without_pay_permission_is_refused(client, ams):
    no_pay = OperatorFactory(level=Level.LIBRARY_STAFF, home_site=ams)
    no_pay.security_group.permissions.remove(
        *no_pay.security_group.permissions.filter(codename="pay_fee")
    )
    client.force_login(no_pay)
    assert client.get(CASH_URL).status_code == 403
    assert open_post(client, ams).status_code == 403
    assert not CashSession.objects.exists()


def test_a_crafted_site_out_of_scope_is_refused(
    client, librarian, operator_at_other_site, ams, jes
):
    client.force_login(librarian)
    response = open_post(client, jes)
    assert response.status_code == 422
    assert response.context["open_form"].errors["site"]
    client.force_login(operator_at_other_site)
    assert open_post(client, ams).status_code == 422
    assert not CashSession.objects.exists()


def test_the_site_offered_are_those_where_one_takes_payments(client, librarian, ams, jes):
    client.force_login(librarian)
    choices = dict(client.get(CASH_URL).context["open_form"].fields["site"].choices)
    assert ams.pk in choices and jes.pk not in choices


def test_the_site_defaults_to_the_working_site_else_home(client, district_admin, ams, jes):
    client.force_login(district_admin)
    form = client.get(CASH_URL).context["open_form"]
    assert form.initial["site"] == district_admin.home_site_id
    session = client.session
    session[working_site.SESSION_ID] = jes.pk
    session.save()
    assert client.get(CASH_URL).context["open_form"].initial["site"] == jes.pk


def test_a_second_open_session_is_refused_with_a_message(client, staff, ams):
    client.force_login(staff)
    assert open_post(client, ams).status_code == 302
    response = open_post(client, ams, "10.00")
    assert response.status_code == 422
    assert SESSION_ALREADY_OPEN.format(site=ams.name) in response.content.decode()
    assert CashSession.objects.filter(operator=staff).count() == 1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-1", FLOAT_NEGATIVE),
        ("abc", NOT_A_NUMBER),
        ("NaN", NOT_A_NUMBER),
        ("1.234", TOO_MANY_DECIMALS),
        ("10000000", TOO_LARGE),
        ("1e400", TOO_LARGE),
        ("123456789012345678901234567890.123", TOO_LARGE),
        ("", "This field is required."),
    ],
)
def test_a_bad_float_is_refused_next_to_the_field(client, staff, ams, value, message):
    client.force_login(staff)
    response = open_post(client, ams, value)
    assert response.status_code == 422
    assert response.context["open_form"].errors["opening_float"] == [message]
    assert 'aria-invalid="true"' in response.content.decode()
    assert not CashSession.objects.exists()


def test_a_zero_float_is_fine(client, staff, ams):
    client.force_login(staff)
    assert open_post(client, ams, "0").status_code == 302
    assert CashSession.objects.get(operator=staff).opening_float == D("0.00")


def test_service_refuses_what_the_form_refuses(staff, ams):
    from django.core.exceptions import ValidationError

    for value in (D("-0.01"), D("NaN"), D("1.001"), D("1e9")):
        with pytest.raises(ValidationError):
            services.cash_session_open(actor=staff, site=ams, opening_float=value)
    assert not CashSession.objects.exists()


# --- next ---------------------------------------------------------------------------------


def test_next_returns_to_the_patron_after_opening(client, staff, patron, ams):
    client.force_login(staff)
    fines_tab = f"/staff/patrons/{patron.pk}/fines/"
    page = client.get(CASH_URL, {"next": fines_tab})
    assert page.context["open_form"].initial["next"] == fines_tab
    response = open_post(client, ams, next=fines_tab)
    assert response.status_code == 302 and response.url == fines_tab


@pytest.mark.parametrize(
    "wanted", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"]
)
def test_an_unsafe_next_is_ignored(client, staff, ams, wanted):
    client.force_login(staff)
    assert client.get(CASH_URL, {"next": wanted}).context["open_form"].initial["next"] == ""
    response = open_post(client, ams, next=wanted)
    assert response.status_code == 302 and response.url == CASH_URL


# --- closing: blind count, expected, difference -------------------------------------------


def test_expected_is_float_plus_cash_taken_less_cash_given_back(
    client, librarian, patron, ams, cash, card
):
    session = services.cash_session_open(actor=librarian, site=ams, opening_float=D("40.00"))
    first = pay(librarian, patron, ams, "12.25", cash, tendered="20.00")
    pay(librarian, patron, ams, "5.10", cash, tendered="5.10")
    pay(librarian, patron, ams, "30.00", card)  # not cash: not in the drawer
    payment = first.fees[0].transactions.get(kind="payment")
    services.payment_refund(
        actor=librarian, patron=patron, key=key(), payment_id=payment.pk, amount=D("2.00")
    )
    expected = D("40.00") + D("12.25") + D("5.10") - D("2.00")
    assert services.expected_cash(session) == expected == D("55.35")

    client.force_login(librarian)
    page = client.get(CASH_URL).content.decode()
    assert "55.35" not in page  # the count is blind
    assert "data-receipt-count>3<" in page  # two payments and a refund, in cash

    response = close_post(client, session, "55.00", "One coin missing")
    assert response.status_code == 302
    session.refresh_from_db()
    assert (session.expected, session.counted, session.difference) == (
        D("55.35"),
        D("55.00"),
        D("-0.35"),
    )
    assert session.close_note == "One coin missing" and not session.is_open


def test_the_result_is_shown_once_after_closing(client, staff, patron, ams, cash):
    session = services.cash_session_open(actor=staff, site=ams, opening_float=D("10.00"))
    pay(staff, patron, ams, "7.77", cash, tendered="10.00")
    client.force_login(staff)
    response = close_post(client, session, "18.00")
    result = client.get(response.url).content.decode()
    assert "$17.77" in result and "$18.00" in result and "+$0.23" in result
    again = client.get(CASH_URL).content.decode()
    assert "$17.77" not in again and "data-cash-result" not in again
    assert "Open a cash session" in again


def test_a_second_click_on_close_shows_the_result_not_an_error(client, staff, ams):
    session = services.cash_session_open(actor=staff, site=ams, opening_float=D("10.00"))
    client.force_login(staff)
    assert close_post(client, session, "10.00").status_code == 302
    response = close_post(client, session, "99.00")
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.counted == D("10.00")
    assert "data-cash-result" in client.get(CASH_URL).content.decode()


def test_closing_someone_elses_session_is_refused(client, staff, librarian, ams):
    session = services.cash_session_open(actor=staff, site=ams, opening_float=D("10.00"))
    client.force_login(librarian)
    response = close_post(client, session, "10.00")
    assert response.status_code == 422
    assert NOT_YOUR_SESSION in response.content.decode()
    session.refresh_from_db()
    assert session.is_open and session.counted is None


def test_closing_a_session_that_does_not_exist_is_not_found(client, staff):
    client.force_login(staff)
    response = client.post(CASH_URL, {"action": "close", "session": 999999, "counted": "1"})
    assert response.status_code == 404


def test_another_operators_result_is_never_shown(client, staff, librarian, ams):
    session = services.cash_session_open(actor=staff, site=ams, opening_float=D("10.00"))
    services.cash_session_close(actor=staff, session=session, counted=D("12.34"))
    client.force_login(librarian)
    client_session = client.session
    client_session[CLOSED_RESULT_KEY] = session.pk
    client_session.save()
    assert "12.34" not in client.get(CASH_URL).content.decode()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-5", COUNT_NEGATIVE),
        ("abc", NOT_A_NUMBER),
        ("1.999", TOO_MANY_DECIMALS),
        ("99999999999", TOO_LARGE),
        ("", "This field is required."),
    ],
)
def test_a_bad_count_is_refused_next_to_the_field(client, staff, ams, value, message):
    session = services.cash_session_open(actor=staff, site=ams, opening_float=D("10.00"))
    client.force_login(staff)
    response = close_post(client, session, value)
    assert response.status_code == 422
    assert response.context["close_form"].errors["counted"] == [message]
    session.refresh_from_db()
    assert session.is_open and session.counted is None


@pytest.mark.parametrize(
    "data",
    [
        {"action": "close", "session": "abc", "counted": "1"},
        {"action": "close"},
        {"action": "open", "site": "abc", "opening_float": "1"},
        {"action": "something"},
        {},
    ],
)
def test_crafted_posts_never_fail(client, staff, data):
    client.force_login(staff)
    assert client.post(CASH_URL, data).status_code == 422
    assert not CashSession.objects.exists()


def test_cash_payment_without_session_is_refused(librarian, patron, ams, cash):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        pay(librarian, patron, ams, "1.00", cash, tendered="1.00")
    assert services.ledger.NO_CASH_SESSION in str(refused.value)


# --- the cash report ----------------------------------------------------------------------


def _closed(operator, site, opening_float, counted):
    session = services.cash_session_open(actor=operator, site=site, opening_float=D(opening_float))
    return services.cash_session_close(actor=operator, session=session, counted=D(counted))


@pytest.mark.parametrize("role", ["aide", "staff", "patron"])
def test_the_report_is_for_holders_of_waive(client, roles, role):
    client.force_login(roles[role])
    assert client.get(REPORT_URL).status_code == 403


def test_anonymous_is_sent_to_sign_in_from_the_report(client):
    assert client.get(REPORT_URL).status_code == 302


def test_the_report_lists_the_days_sessions_with_totals(
    client, librarian, staff, patron, ams, cash
):
    short = services.cash_session_open(actor=staff, site=ams, opening_float=D("20.00"))
    pay(staff, patron, ams, "4.00", cash, tendered="5.00")
    services.cash_session_close(actor=staff, session=short, counted=D("23.50"))
    _closed(librarian, ams, "10.00", "10.00")
    still_open = services.cash_session_open(actor=staff, site=ams, opening_float=D("5.00"))

    client.force_login(librarian)
    response = client.get(REPORT_URL)
    assert response.status_code == 200
    (report,) = [r for r in response.context["reports"] if r.site == ams]
    assert [row.session for row in report.rows] == [
        short,
        *CashSession.objects.filter(operator=librarian),
        still_open,
    ]
    first = report.rows[0]
    assert (first.taken, first.given, first.expected, first.difference) == (
        D("4.00"),
        D("0.00"),
        D("24.00"),
        D("-0.50"),
    )
    assert report.expected == D("24.00") + D("10.00") + D("5.00")
    assert report.counted == D("33.50") and report.difference == D("-0.50")
    page = response.content.decode()
    assert "Short" in page and "cash-row-different" in page and "Still open" in page


def test_another_sites_sessions_are_not_listed(client, librarian, operator_at_other_site, ams, jes):
    theirs = _closed(operator_at_other_site, jes, "33.33", "33.33")
    ours = _closed(librarian, ams, "11.11", "11.11")
    client.force_login(librarian)
    response = client.get(REPORT_URL)
    sessions = [row.session for r in response.context["reports"] for row in r.rows]
    assert sessions == [ours]
    assert "33.33" not in response.content.decode()
    crafted = client.get(REPORT_URL, {"site": jes.pk})
    assert crafted.status_code == 422 and crafted.context["form"].errors["site"]
    assert "33.33" not in crafted.content.decode()
    client.force_login(operator_at_other_site)
    sessions = [row.session for r in client.get(REPORT_URL).context["reports"] for row in r.rows]
    assert sessions == [theirs]


def test_the_district_admin_reads_every_site_and_filters_one(
    client, district_admin, librarian, operator_at_other_site, ams, jes
):
    _closed(operator_at_other_site, jes, "33.33", "33.33")
    _closed(librarian, ams, "11.11", "11.11")
    client.force_login(district_admin)
    page = client.get(REPORT_URL).content.decode()
    assert "$33.33" in page and "$11.11" in page
    only_jes = client.get(REPORT_URL, {"site": jes.pk}).content.decode()
    assert "$33.33" in only_jes and "$11.11" not in only_jes


def test_the_report_is_per_day(client, librarian, ams):
    session = _closed(librarian, ams, "11.11", "11.11")
    yesterday = timezone.localdate() - timezone.timedelta(days=1)
    client.force_login(librarian)
    assert "$11.11" in client.get(REPORT_URL).content.decode()
    assert (
        "$11.11"
        in client.get(REPORT_URL, {"day": timezone.localdate().isoformat()}).content.decode()
    )
    other_day = client.get(REPORT_URL, {"day": yesterday.isoformat()})
    assert other_day.status_code == 200 and "$11.11" not in other_day.content.decode()
    assert session.pk


@pytest.mark.parametrize("day", ["2024-13-45", "abc", "99999-01-01"])
def test_a_bad_day_is_refused_next_to_the_field(client, librarian, day):
    client.force_login(librarian)
    response = client.get(REPORT_URL, {"day": day})
    assert response.status_code == 422
    assert response.context["form"].errors["day"]


def test_the_report_takes_one_query_whatever_the_sessions(
    librarian, staff, patron, ams, ams_branch, cash, django_assert_max_num_queries
):
    for operator in (librarian, staff):
        session = services.cash_session_open(actor=operator, site=ams, opening_float=D("10.00"))
        pay(operator, patron, ams, "1.00", cash, tendered="2.00")
        pay(operator, patron, ams, "2.00", cash, tendered="2.00")
        services.cash_session_close(actor=operator, session=session, counted=D("13.00"))
    sites = list(cash_selectors.report_sites(operator=librarian))  # facts loaded here
    with django_assert_max_num_queries(1):
        reports = cash_selectors.cash_report(
            operator=librarian, day=timezone.localdate(), sites=sites
        )
        rows = [row for report in reports for row in report.rows]
        assert [row.taken for row in rows] == [D("3.00"), D("3.00")]


def test_the_report_page_does_not_grow_with_sessions(client, librarian, ams, cash, patron):
    client.force_login(librarian)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(REPORT_URL).status_code == 200
        return len(captured)

    _closed(librarian, ams, "1.00", "1.00")
    one = queries()
    for _ in range(4):
        other = OperatorFactory(level=Level.LIBRARY_STAFF, home_site=ams)
        _closed(other, ams, "1.00", "2.00")
    assert queries() == one


def test_an_operator_of_another_site_as_staff_patron_do_not_see_the_report(client, ams):
    member = PatronFactory(home_site=ams)
    client.force_login(member)
    assert client.get(REPORT_URL).status_code == 403


# What each role gets on a GET (mirrors the entries tests/security/test_url_grid.py needs).
GET_GRID = {
    CASH_URL: {
        "anonymous": 302,
        "patron": 403,
        "aide": 200,
        "staff": 200,
        "librarian": 200,
        "library_admin": 200,
        "district_admin": 200,
        "operator_at_other_site": 200,
    },
    REPORT_URL: {
        "anonymous": 302,
        "patron": 403,
        "aide": 403,
        "staff": 403,
        "librarian": 200,
        "library_admin": 200,
        "district_admin": 200,
        "operator_at_other_site": 200,
    },
}


@pytest.mark.parametrize("page", sorted(GET_GRID))
def test_every_role_gets_the_expected_status(client, roles, page):
    got = {}
    for role in GET_GRID[page]:
        client.logout()
        if role != "anonymous":
            client.force_login(roles[role])
        got[role] = client.get(page).status_code
    assert got == GET_GRID[page]
