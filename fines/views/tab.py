"""The Fines tab (/staff/patrons/<id>/fines/): the patron's balances, their fees with each
fee's ledger, and the actions. Every form posts to the tab's URL; which form it is shows in
its prefix (`add-`, `credit-`, `selected-`, `refund-`, `reverse-`).

A fee id of another patron, or owned by a site outside the operator's scope, is not found
(404), as the policy answers for a record out of scope; an action the operator may not take
on a fee they see is a 403. A form submitted twice (its one-time key) is recorded once: the
second answer shows the first result."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseBadRequest

from fines import debt, selectors, services
from fines.forms.tab import (
    ADD,
    CREDIT,
    REFUND,
    REVERSE,
    SELECTED,
    CreditAddForm,
    FeeAddForm,
    FilterForm,
    RefundForm,
    ReverseForm,
    SelectedFeesForm,
)
from fines.models import BursarExport, Fee
from fines.money import format_money
from patrons.views.record import can_edit, render_tab
from security import policy, working_site
from sites.models import Site

FEE_ADDED = "Fee added: {type}, {amount}."
CREDIT_ADDED = "Credit added: {amount}."
PAID = "Payment of {amount} recorded on receipt {receipt}."
WAIVED = "Waived {amount}."
DISPUTED = "Put in dispute: {count} fee(s)."
RESTORED = "Restored: {count} fee(s)."
TRANSFERRED = "Transferred {amount} to the bursar."
REFUNDED = "Refund of {amount} recorded on receipt {receipt}."
REVERSED = "Transfer reversed: {count} fee(s) active again."
ALREADY_DONE = "This was recorded already (the form was sent twice): nothing more was done."
FEE_NOT_FOUND = "No such fee on this record."
NO_ACTION = "The form names no action."
BLOCKED = "Debt limit reached: the patron is blocked. {reason}"


def fines_tab(request, patron, tab):
    if request.method != "POST":
        return _render(request, patron, tab)
    handler = next((h for prefix, h in _HANDLERS.items() if f"{prefix}-key" in request.POST), None)
    if handler is None:
        return HttpResponseBadRequest(NO_ACTION)
    try:
        return handler(request, patron, tab)
    except services.AlreadyDone as done:
        messages.info(request, ALREADY_DONE)
        return _render(request, patron, tab, receipt=done.request.receipt)


def _add(request, patron, tab):
    form = FeeAddForm(request.POST, **_new_fee_choices(request, patron, services.ADD))
    if form.is_valid():
        try:
            fee = services.fee_add(actor=request.user, patron=patron, **form.cleaned_data)
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            text = FEE_ADDED.format(
                type=fee.fee_type.name, amount=format_money(fee.original_amount)
            )
            messages.success(request, text)
            return _render(request, patron, tab)
    return _render(request, patron, tab, add_form=form, status=422)


def _credit(request, patron, tab):
    form = CreditAddForm(request.POST, **_new_fee_choices(request, patron, services.CREDIT))
    if form.is_valid():
        try:
            fee = services.credit_add(actor=request.user, patron=patron, **form.cleaned_data)
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, CREDIT_ADDED.format(amount=format_money(fee.original_amount)))
            return _render(request, patron, tab)
    return _render(request, patron, tab, credit_form=form, status=422)


def _selected(request, patron, tab):
    form = SelectedFeesForm(request.POST, fee_ids=request.POST.getlist(f"{SELECTED}-fees"))
    if form.is_valid():
        _require_visible(request.user, patron, form.cleaned_data["fees"])
        try:
            outcome, text = _act(request, patron, form.cleaned_data)
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, text)
            return _render(request, patron, tab, receipt=outcome.receipt, export=outcome.export)
    return _render(request, patron, tab, selected_form=form, status=422)


def _act(request, patron, data) -> tuple[services.Outcome, str]:
    common = {"actor": request.user, "patron": patron, "key": data["key"], "fee_ids": data["fees"]}
    action = data["action"]
    if action == "pay":
        outcome = services.fees_pay(
            **common,
            amount=data["amount"],
            method=data["payment_method"],
            site=_taking_site(request),
            tendered=data["tendered"],
        )
        return outcome, PAID.format(
            amount=format_money(outcome.receipt.total), receipt=outcome.receipt.label
        )
    if action == "waive":
        outcome = services.fees_waive(
            **common, amount=data["amount"], reason=data["waive_reason"], comment=data["comment"]
        )
        return outcome, WAIVED.format(amount=format_money(outcome.amount))
    if action == "dispute":
        outcome = services.fees_dispute(**common, comment=data["comment"])
        return outcome, DISPUTED.format(count=len(outcome.fees))
    if action == "restore":
        outcome = services.fees_restore(**common, comment=data["comment"])
        return outcome, RESTORED.format(count=len(outcome.fees))
    outcome = services.fees_transfer(**common)
    return outcome, TRANSFERRED.format(amount=format_money(outcome.export.total))


def _refund(request, patron, tab):
    form = RefundForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        if not selectors.payment_visible(request.user, patron, data["payment"]):
            raise Http404(FEE_NOT_FOUND)
        try:
            outcome = services.payment_refund(
                actor=request.user,
                patron=patron,
                key=data["key"],
                payment_id=data["payment"],
                amount=data["amount"],
                comment=data["comment"],
            )
        except ValidationError as error:
            if "payment" in getattr(error, "error_dict", {}):
                raise Http404(FEE_NOT_FOUND) from None
            form.add_service_errors(error)
        else:
            text = REFUNDED.format(
                amount=format_money(data["amount"]), receipt=outcome.receipt.label
            )
            messages.success(request, text)
            return _render(request, patron, tab, receipt=outcome.receipt)
    refunding = form.data.get(f"{REFUND}-payment")
    return _render(request, patron, tab, refund_form=form, refunding=refunding, status=422)


def _reverse(request, patron, tab):
    form = ReverseForm(request.POST)
    if form.is_valid():
        try:
            outcome = services.transfer_reverse(
                actor=request.user,
                patron=patron,
                key=form.cleaned_data["key"],
                export_id=form.cleaned_data["export"],
            )
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, REVERSED.format(count=len(outcome.fees)))
            return _render(request, patron, tab)
    return _render(request, patron, tab, reverse_form=form, status=422)


_HANDLERS = {ADD: _add, CREDIT: _credit, SELECTED: _selected, REFUND: _refund, REVERSE: _reverse}


@login_required
def bursar_csv(request, pk: int):
    """A transfer's CSV as it was sent, for those who may transfer fees and see the patron."""
    policy.require(request.user, services.TRANSFER)
    export = BursarExport.objects.select_related("patron").filter(pk=pk).first()
    if export is None or export.patron is None:
        raise Http404
    if not policy.can(request.user, services.VIEW, export.patron):
        raise Http404
    # The file names fees: only for those who may transfer every one of them.
    for fee in selectors.exported_fees(export):
        policy.require(request.user, services.TRANSFER, fee)
    response = HttpResponse(export.csv, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="bursar-{export.pk}.csv"'
    return response


# --- helpers -----------------------------------------------------------------------------


def _require_visible(operator, patron, fee_ids) -> None:
    """Every chosen fee is one of this patron's that the operator sees, else 404."""
    seen = selectors.visible_fees(operator, patron).filter(pk__in=fee_ids).count()
    if seen != len(set(fee_ids)):
        raise Http404(FEE_NOT_FOUND)


def _taking_site(request):
    """Where money is taken: the working site, else the operator's home site (a cash
    payment is the cash session's)."""
    chosen = Site.objects.filter(pk=working_site.site_id(request)).first()
    return chosen or request.user.home_site


def _new_fee_choices(request, patron, action) -> dict:
    return {
        "sites": selectors.owner_sites(operator=request.user, action=action),
        "preferred_site_ids": (
            working_site.site_id(request),
            request.user.home_site_id,
            patron.home_site_id,
        ),
    }


_NEW_FEE_FORMS = (
    ("add_form", FeeAddForm, services.ADD),
    ("credit_form", CreditAddForm, services.CREDIT),
)


def _render(request, patron, tab, *, status=200, receipt=None, export=None, **forms):
    operator = request.user
    if request.method == "POST" and status == 200:
        _warn_when_blocked(request, patron)
    filter_form = FilterForm(request.GET or None, sites=selectors.filter_sites(operator=operator))
    page = selectors.fines_page(operator=operator, patron=patron, filters=filter_form.filters())
    for name, form_class, action in _NEW_FEE_FORMS:
        if name not in forms:
            choices = _new_fee_choices(request, patron, action)
            if selectors.may_add(operator, patron, action, choices["sites"]):
                forms[name] = form_class(**choices)
    forms.setdefault("selected_form", SelectedFeesForm())
    if "refund_form" not in forms:
        forms["refund_form"], forms["refunding"] = _refund_form(request, page)
    forms.setdefault("reverse_form", ReverseForm())
    checked = _checked(request, forms["selected_form"], page)
    context = {
        "page": page,
        "filter_form": filter_form,
        "checked": checked,
        "receipt": receipt,
        "export": export,
        "may_transfer_exports": policy.can(operator, services.TRANSFER),
        "can_edit": can_edit(operator, patron, tab),
        **forms,
    }
    return render_tab(request, patron, tab, context, status=status)


def _warn_when_blocked(request, patron) -> None:
    standing = debt.standing(patron)
    if standing.blocked:
        messages.warning(request, BLOCKED.format(reason=standing.reason()))


def _refund_form(request, page) -> tuple[RefundForm, int | None]:
    """The refund form for the payment named by ?refund=<id>, when it is listed and the
    operator may refund it: offering what is left of it."""
    wanted = request.GET.get("refund", "")
    for fee in page.fees:
        for line in fee.ledger:
            if str(line.pk) == wanted and line.kind == "payment" and fee.may["refund"]:
                left = line.amount - line.refunded
                return RefundForm(initial={"payment": line.pk, "amount": left}), line.pk
    return RefundForm(), None


def _checked(request, selected_form, page) -> set[int]:
    """Ticked fees: those just posted (a refused action keeps them), or, from the delete
    page's "waive the balance first", every fee the operator may waive."""
    if selected_form.is_bound:
        return {int(v) for v in selected_form.data.getlist(f"{SELECTED}-fees") if v.isdigit()}
    if request.GET.get("waive") == "all":
        waivable = (Fee.Status.ACTIVE, Fee.Status.DISPUTED)
        return {fee.pk for fee in page.fees if fee.may["waive"] and fee.status in waivable}
    return set()
