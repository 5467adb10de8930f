"""Explicit grants (Evergreen's User Permission Editor): the list, giving one, taking one
back. Who may do what is security.policy's grant section; the service checks it again."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render

from security import grant_selectors, policy, services
from security.forms.grants import NOTHING_TO_GIVE, GrantForm
from security.models import Grant

GRANTED = "Given to {operator} at {site}: {permission}."
LIMITED = "Limited: {sentence}."
REVOKED = "Revoked from {operator} at {site}: {permission}."
GRANTS_PER_PAGE = 50


def _require_granter(request) -> None:
    """403 for operators (and patrons) who may grant at no site at all."""
    if not request.user.has_perm(policy.GRANT_PERMISSION):
        raise PermissionDenied


@login_required
def grant_list(request):
    _require_granter(request)
    grants = grant_selectors.grant_list(operator=request.user)
    page = Paginator(grants, GRANTS_PER_PAGE).get_page(request.GET.get("page"))
    rows = grant_selectors.grant_rows(operator=request.user, grants=page)
    return render(request, "security/grant_list.html", {"page": page, "rows": rows})


@login_required
def grant_create(request):
    _require_granter(request)
    initial = {"operator": request.GET.get("operator", "")}
    form = GrantForm(request.POST or None, granter=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            grant = services.grant_create(actor=request.user, **form.service_arguments())
        except ValidationError as error:
            form.add_error(None, error)
        else:
            if grant.kind == Grant.Kind.LIMITS:
                sentence = grant_selectors.grant_sentence(grant)
                messages.success(request, LIMITED.format(sentence=sentence))
            else:
                messages.success(request, _describe(GRANTED, grant))
            return redirect("security:grants")
    status = 422 if form.errors else 200
    context = {"form": form, "nothing_to_give": NOTHING_TO_GIVE}
    return render(request, "security/grant_form.html", context, status=status)


@login_required
def grant_revoke(request, pk: int):
    """A confirmation page, then the revocation (POST)."""
    _require_granter(request)
    grant = grant_selectors.grant_get(operator=request.user, pk=pk)
    if grant is None:
        raise Http404("No grant found.")
    policy.require_revoke_grant(request.user, grant)
    if request.method == "POST":
        services.grant_revoke(actor=request.user, grant=grant)
        messages.success(request, _describe(REVOKED, grant))
        return redirect("security:grants")
    context = {"grant": grant, "sentence": grant_selectors.grant_sentence(grant)}
    return render(request, "security/grant_revoke.html", context)


def _describe(message: str, grant) -> str:
    return message.format(
        operator=grant.operator.display_name,
        permission=grant.permission.name,
        site=grant.site,
    )
