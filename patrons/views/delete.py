from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render

from patrons import record_selectors, services
from patrons.deletion import Refusal
from patrons.views.record import get_patron_or_404
from security import policy

DELETED = "{name} ({barcode}) was deleted."


@login_required
def patron_delete(request, pk: int):
    """A confirmation page, then the deletion; refused with the reason (protected, the
    last District Administrator, a balance) on the page and again by the service."""
    patron = get_patron_or_404(request, pk)
    policy.require(request.user, "patrons.delete_patron", patron)
    if request.method == "POST":
        try:
            services.patron_delete(actor=request.user, patron=patron)
        except ValidationError as error:
            return _page(request, patron, _refused(patron, error), status=422)
        barcode = patron.barcode or "no barcode"
        messages.success(request, DELETED.format(name=patron.display_name, barcode=barcode))
        return redirect("patrons:list")
    return _page(request, patron, record_selectors.patron_delete_blockers(patron))


def _refused(patron, error: ValidationError) -> list[Refusal]:
    """The service's reasons, with the links the confirmation page would have offered."""
    offered = {
        refusal.message: refusal for refusal in record_selectors.patron_delete_blockers(patron)
    }
    return [offered.get(message, Refusal(message)) for message in error.messages]


def _page(request, patron, refusals: list[Refusal], *, status=200):
    reasons = [
        {"message": refusal.message, "links": refusal.links_for(request.user, patron)}
        for refusal in refusals
    ]
    return render(
        request, "patrons/delete.html", {"patron": patron, "reasons": reasons}, status=status
    )
