"""Bulk usernames (/staff/patrons/usernames/): upload a list of old,new usernames or choose
a rule, see the preview (nothing is written), then apply it, all or nothing.

For holders of the Access tab permission somewhere; each patron is checked by the service
(patrons.services.usernames), at the preview and again when applying."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from patrons import services
from patrons.forms.usernames import (
    UsernamesApplyForm,
    UsernamesRuleForm,
    UsernamesUploadForm,
    signed_plan,
)
from security import policy

TEMPLATE = "patrons/usernames.html"
APPLIED = "{count:,} username{s} changed."
UPLOAD, RULE, APPLY = "upload", "rule", "apply"


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def bulk_usernames(request):
    policy.require(request.user, "patrons.edit_access")
    if request.method != "POST":
        return _page(request)
    step = request.POST.get("step")
    if step == APPLY:
        return _apply(request)
    if step == RULE:
        return _preview_rule(request)
    return _preview_upload(request)


def _preview_upload(request):
    form = UsernamesUploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            plan = services.usernames_plan(actor=request.user, pairs=form.pairs)
            return _preview(request, plan, upload_form=form)
        except ValidationError as error:  # more rows than a batch holds
            form.add_error(None, error)
    return _page(request, upload_form=form, status=422)


def _preview_rule(request):
    form = UsernamesRuleForm(request.POST, operator=request.user)
    if form.is_valid():
        try:
            # The form's fields are the service's arguments: rule, site, patron_type...
            plan = services.usernames_plan(actor=request.user, **form.cleaned_data)
            return _preview(request, plan, rule_form=form)
        except ValidationError as error:  # more patrons than a batch holds
            form.add_error(None, error)
    return _page(request, rule_form=form, status=422)


def _preview(request, plan, **forms):
    """The plan, with the apply button only when it can be applied as it is."""
    return _page(request, plan=plan, status=200 if plan.can_apply else 422, **forms)


def _apply(request):
    form = UsernamesApplyForm(request.POST, actor=request.user)
    if not form.is_valid():
        return _page(request, refusal=form.errors["plan"], status=422)
    try:
        count = services.usernames_apply(actor=request.user, plan=form.cleaned_data["plan"])
    except ValidationError as error:
        return _page(request, refusal=error.messages, status=422)
    messages.success(request, APPLIED.format(count=count, s="" if count == 1 else "s"))
    return redirect("patrons:usernames")


def _page(request, *, upload_form=None, rule_form=None, plan=None, refusal=(), status=200):
    context = {
        "upload_form": upload_form or UsernamesUploadForm(),
        "rule_form": rule_form or UsernamesRuleForm(operator=request.user),
        "plan": plan,
        "signed_plan": signed_plan(plan, actor=request.user) if plan and plan.can_apply else "",
        "refusal": refusal,
        "steps": {"upload": UPLOAD, "rule": RULE, "apply": APPLY},
    }
    return render(request, TEMPLATE, context, status=status)
