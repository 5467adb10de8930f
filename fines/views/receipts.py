"""A printable receipt (the browser prints it, with static/css/receipt-print.css).

Seen by an operator whose site scope covers the receipt's site and who either took it or
may view the patron's fees; anyone else gets 404, as for any record out of scope: we do
not confirm that a receipt number exists."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from fines import cash_selectors
from fines.models import Receipt

RECEIPT_NOT_FOUND = "No such receipt."


@login_required
def receipt_detail(request, pk: int):
    receipt = cash_selectors.receipt_visible(operator=request.user, pk=pk)
    if receipt is None:
        raise Http404(RECEIPT_NOT_FOUND)
    context = {
        "receipt": receipt,
        "label": receipt.label,
        "undoes_label": receipt.undoes.label if receipt.undoes else "",
        "refunds": [
            (refund, refund.label) for refund in cash_selectors.receipts_undoing(receipt=receipt)
        ],
        "is_refund": receipt.kind == Receipt.Kind.REFUND,
        "is_cash": receipt.payment_method.is_cash,
    }
    return render(request, "fines/receipt.html", context)
