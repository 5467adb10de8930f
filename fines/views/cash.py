"""The cash drawer: open a cash session at a site with a float, close it with a blind count
(the page never says what the drawer should hold: the result is shown once, after the
count), and the per-site, per-day cash report for holders of the waive permission.

Both forms post to the same URL (`action` says which). Closing acts only on the posted
session, and the service refuses anyone but the operator who opened it."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from fines import cash_selectors
from fines.forms.cash import (
    CLOSE,
    CashReportFilterForm,
    CashSessionCloseForm,
    CashSessionOpenForm,
)
from fines.models import CashSession
from fines.money import format_money
from fines.services import cash_session_close, cash_session_open, open_session
from security import policy, working_site
from security.views.next_url import is_safe

PAY = "fines.pay_fee"
REPORT = cash_selectors.REPORT
SESSION_OPENED = "Cash session opened at {site} with a float of {float}."
SESSION_CLOSED = "Cash session closed. The count is recorded."
CLOSED_RESULT_KEY = "fines_cash_closed_session"  # the result to show once, after closing
TEMPLATE = "fines/cash_session.html"


@login_required
def cash_session(request):
    # Someone who lost the permission with a drawer open may still count it and close it.
    if not policy.can(request.user, PAY) and open_session(request.user) is None:
        raise PermissionDenied(policy.DENIED)
    if request.method == "POST":
        if request.POST.get("action") == CLOSE:
            return _close(request)
        return _open(request)
    return _render(request)


def _open(request):
    form = _open_form(request, data=request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            session = cash_session_open(
                actor=request.user, site=data["site"], opening_float=data["opening_float"]
            )
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(
                request, SESSION_OPENED.format(site=session.site.name, float=_money(session))
            )
            return redirect(_next_or_cash(request, data["next"]))
    return _render(request, open_form=form, status=422)


def _close(request):
    form = CashSessionCloseForm(request.POST)
    if form.is_valid():
        session = get_object_or_404(CashSession, pk=form.cleaned_data["session"])
        try:
            closed = cash_session_close(
                actor=request.user,
                session=session,
                counted=form.cleaned_data["counted"],
                note=form.cleaned_data["note"],
            )
        except ValidationError as error:
            if _closed_already_by(request.user, session):
                return _show_result(request, session)  # a second click on Close
            form.add_service_errors(error)
        else:
            messages.success(request, SESSION_CLOSED)
            return _show_result(request, closed)
    return _render(request, close_form=form, status=422)


def _closed_already_by(operator, session: CashSession) -> bool:
    session.refresh_from_db(fields=["closed_at"])
    return session.operator_id == operator.pk and not session.is_open


def _show_result(request, session: CashSession):
    request.session[CLOSED_RESULT_KEY] = session.pk
    return redirect("fines:cash")


def _next_or_cash(request, wanted: str) -> str:
    return wanted if wanted and is_safe(request, wanted) else reverse("fines:cash")


def _open_form(request, *, data=None) -> CashSessionOpenForm:
    operator = request.user
    next_url = request.GET.get("next", "")
    return CashSessionOpenForm(
        data,
        initial={"next": next_url if is_safe(request, next_url) else ""},
        sites=cash_selectors.cash_sites(operator=operator),
        preferred_site_ids=(working_site.site_id(request), operator.home_site_id),
    )


def _render(request, *, open_form=None, close_form=None, status=200):
    session = open_session(request.user)
    closed = cash_selectors.own_closed_session(
        operator=request.user, session_id=request.session.pop(CLOSED_RESULT_KEY, None)
    )
    context = {"session": session, "closed": closed, "open_form": open_form}
    if session is not None:
        context["receipt_count"] = cash_selectors.session_receipt_count(session=session)
        context["close_form"] = close_form or CashSessionCloseForm(session=session)
    else:
        context["close_form"] = close_form
        context["open_form"] = open_form or _open_form(request)
    return render(request, TEMPLATE, context, status=status)


def _money(session: CashSession) -> str:
    return format_money(session.opening_float)


@login_required
def cash_report(request):
    policy.require(request.user, REPORT)
    form = CashReportFilterForm(
        request.GET, sites=cash_selectors.report_sites(operator=request.user)
    )
    chosen = form.chosen()
    reports = []
    if chosen is not None:
        day, sites = chosen
        reports = cash_selectors.cash_report(operator=request.user, day=day, sites=sites)
    context = {"form": form, "reports": reports, "day": chosen[0] if chosen else None}
    return render(request, "fines/cash_report.html", context, status=200 if chosen else 422)
