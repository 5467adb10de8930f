from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from security import policy, working_site
from security.forms.working_site import WorkingSiteForm
from security.views.next_url import safe_next

WORKING_SITE_SET = "You are now working at {site}."


@login_required
@require_http_methods(["GET", "POST"])
def working_site_choose(request):
    """Choose the working site among the sites of one's access; a site outside it is not
    a valid choice (422, nothing changes)."""
    policy.require(request.user, working_site.WORKS_WITH)
    next_url = safe_next(request)
    if request.method == "POST":
        form = WorkingSiteForm(request.POST, operator=request.user)
        if form.is_valid():
            site = form.cleaned_data["site"]
            working_site.remember(request, site)
            messages.success(request, WORKING_SITE_SET.format(site=site))
            return redirect(next_url)
        status = 422
    else:
        form = WorkingSiteForm(
            operator=request.user, initial={"site": working_site.site_id(request)}
        )
        status = 200
    context = {"form": form, "next": next_url}
    return render(request, "security/working_site.html", context, status=status)
