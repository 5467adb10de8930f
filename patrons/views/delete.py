from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render

from patrons import record_selectors, services
from patrons.views.record import get_patron_or_404
from security import policy

DELETED = "{name} ({barcode}) was deleted."


@login_required
def patron_delete(request, pk: int):
    """A confirmation page, then the deletion; refused with the reason (protected, the
    last District Administrator) on the page and again by the service."""
    patron = get_patron_or_404(request, pk)
    policy.require(request.user, "patrons.delete_patron", patron)
    reasons = record_selectors.patron_delete_blockers(patron)
    if request.method == "POST":
        try:
            services.patron_delete(actor=request.user, patron=patron)
        except ValidationError as error:
            return _page(request, patron, error.messages, status=422)
        barcode = patron.barcode or "no barcode"
        messages.success(request, DELETED.format(name=patron.display_name, barcode=barcode))
        return redirect("patrons:list")
    return _page(request, patron, reasons)


def _page(request, patron, reasons, *, status=200):
    context = {"patron": patron, "reasons": reasons}
    return render(request, "patrons/delete.html", context, status=status)
