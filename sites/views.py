from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render

from security import policy
from sites import selectors, services
from sites.forms import SiteForm
from sites.models import Site

SITE_CREATED = "Site {site} created."
SITE_UPDATED = "Site {site} saved."


def _require_held(request, perm: str) -> None:
    """403 for operators (and patrons) who hold the permission at no site at all."""
    if not request.user.has_perm(perm):
        raise PermissionDenied


@login_required
def site_list(request):
    _require_held(request, "sites.view_site")
    rows = selectors.site_list(operator=request.user)
    return render(
        request,
        "sites/site_list.html",
        {"rows": rows, "can_add": request.user.has_perm("sites.add_site")},
    )


@login_required
def site_create(request):
    _require_held(request, "sites.add_site")
    form = SiteForm(request.POST or None, operator=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            site = services.site_create(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, SITE_CREATED.format(site=site))
            return redirect("sites:list")
    return _form_page(request, form, site=None)


@login_required
def site_edit(request, pk: int):
    _require_held(request, "sites.change_site")
    site = policy.get_or_404(request.user, "sites.change_site", Site, pk=pk)
    form = SiteForm(request.POST or None, operator=request.user, site=site)
    if request.method == "POST" and form.is_valid():
        try:
            site = services.site_update(actor=request.user, site=site, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, SITE_UPDATED.format(site=site))
            return redirect("sites:list")
    return _form_page(request, form, site=site)


def _form_page(request, form: SiteForm, *, site: Site | None):
    status = 422 if form.errors else 200
    return render(request, "sites/site_form.html", {"form": form, "site": site}, status=status)
