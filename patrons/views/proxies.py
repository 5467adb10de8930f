"""The Proxies tab (Alma's "Proxy For"): whom this patron may act for, and who may act for
them. Links with patrons outside the operator's scope are counted, not shown."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404

from patrons import services
from patrons.forms.proxies import ProxyLinkForm
from patrons.forms.record import add_service_errors
from patrons.models import Patron, ProxyLink
from patrons.views.record import can_edit, render_tab
from security import policy

ADDED = "{proxy} may now act for {patron}."
REMOVED = "Proxy link removed."
NOT_FOUND = "No patron with this barcode among those you may see."
VIEW = "patrons.view_patron"


def proxies_tab(request, patron, tab):
    form = ProxyLinkForm()
    if request.method == "POST":
        if not can_edit(request.user, patron, tab):
            raise PermissionDenied
        if "remove" in request.POST:
            return _remove(request, patron, tab)
        form = ProxyLinkForm(request.POST)
        if form.is_valid():
            added = _add(request, patron, form)
            if added is not None:
                messages.success(request, ADDED.format(proxy=patron, patron=added.patron))
                return _render(request, patron, tab, ProxyLinkForm())
        return _render(request, patron, tab, form, status=422)
    return _render(request, patron, tab, form)


def _add(request, patron, form) -> ProxyLink | None:
    visible = Patron.objects.visible_to(request.user).select_related("security_group")
    other = visible.filter(barcode=form.cleaned_data["barcode"].strip()).first()
    if other is None:
        form.add_error("barcode", NOT_FOUND)
        return None
    try:
        return services.proxy_link_add(
            actor=request.user,
            proxy=patron,
            patron=other,
            expires_on=form.cleaned_data["expires_on"],
        )
    except ValidationError as error:
        add_service_errors(form, error)
        return None


def _remove(request, patron, tab):
    try:
        services.proxy_link_remove(
            actor=request.user, record=patron, link_id=int(request.POST["remove"])
        )
    except (ValueError, ProxyLink.DoesNotExist) as missing:
        raise Http404("No such proxy link.") from missing
    messages.success(request, REMOVED)
    return _render(request, patron, tab, ProxyLinkForm())


def _render(request, patron, tab, form, *, status=200):
    links = list(
        ProxyLink.objects.filter(Q(proxy=patron) | Q(patron=patron)).select_related(
            "proxy__home_site",
            "patron__home_site",
            "proxy__security_group",
            "patron__security_group",
        )
    )
    pairs = [(link, _other(link, patron)) for link in links]
    shown = [(link, other) for link, other in pairs if policy.can(request.user, VIEW, other)]
    context = {
        "form": form,
        "acts_for": [(link, other) for link, other in shown if link.proxy_id == patron.pk],
        "proxies": [(link, other) for link, other in shown if link.patron_id == patron.pk],
        "hidden_count": len(links) - len(shown),
    }
    return render_tab(request, patron, tab, context, status=status)


def _other(link: ProxyLink, patron) -> Patron:
    return link.patron if link.proxy_id == patron.pk else link.proxy
