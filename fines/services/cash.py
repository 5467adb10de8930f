"""Cash sessions: an operator taking cash opens one at a site with an opening float; cash
payments and refunds belong to it; closing asks for a blind count (the operator is not told
what the drawer should hold) and records the expected amount, the count and the difference.
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from fines.models import CashSession, Receipt
from fines.money import amount_refusal
from security import log, policy

PAY = "fines.pay_fee"
SESSION_ALREADY_OPEN = "You already have a cash session open at {site}: close it first."
SESSION_CLOSED = "This cash session was closed already."
NOT_YOUR_SESSION = "Only the operator who opened a cash session closes it."
FLOAT_NEGATIVE = "The opening float cannot be negative."
COUNT_NEGATIVE = "The count cannot be negative."
ZERO = Decimal("0.00")


@transaction.atomic
def cash_session_open(*, actor, site, opening_float: Decimal) -> CashSession:
    policy.require(actor, PAY, site)
    _require_cash_amount(opening_float, "opening_float", FLOAT_NEGATIVE)
    current = open_session(actor)
    if current is not None:
        raise ValidationError(SESSION_ALREADY_OPEN.format(site=current.site.name))
    try:
        with transaction.atomic():
            session = CashSession.objects.create(
                operator=actor,
                operator_name=actor.display_name,
                site=site,
                opening_float=opening_float,
            )
    except IntegrityError:  # opened in another tab meanwhile
        raise ValidationError(SESSION_ALREADY_OPEN.format(site=site.name)) from None
    _log(actor, session, "opened", opening_float=str(opening_float))
    return session


@transaction.atomic
def cash_session_close(
    *, actor, session: CashSession, counted: Decimal, note: str = ""
) -> CashSession:
    current = CashSession.objects.select_for_update().select_related("site").get(pk=session.pk)
    if current.operator_id != actor.pk:
        raise ValidationError(NOT_YOUR_SESSION)
    if not current.is_open:
        raise ValidationError(SESSION_CLOSED)
    _require_cash_amount(counted, "counted", COUNT_NEGATIVE)
    current.expected = expected_cash(current)
    current.counted = counted
    current.close_note = note.strip()[:300]
    current.closed_at = timezone.now()
    current.save(update_fields=["expected", "counted", "close_note", "closed_at"])
    _log(
        actor,
        current,
        "closed",
        expected=str(current.expected),
        counted=str(counted),
        difference=str(current.difference),
    )
    return current


def open_session(operator) -> CashSession | None:
    return (
        CashSession.objects.select_related("site")
        .filter(operator=operator, closed_at__isnull=True)
        .first()
    )


def expected_cash(session: CashSession) -> Decimal:
    """The float, plus cash taken, less cash given back, in this session."""
    sums = session.receipts.aggregate(
        taken=Coalesce(Sum("total", filter=Q(kind=Receipt.Kind.PAYMENT)), ZERO),
        given=Coalesce(Sum("total", filter=Q(kind=Receipt.Kind.REFUND)), ZERO),
    )
    return session.opening_float + sums["taken"] - sums["given"]


def cash_amount_refusal(value, negative_message: str) -> str | None:
    """Why `value` cannot be a float or a count (None: it can): unlike a payment, zero is
    a fine amount of cash. The forms ask it too, so a crafted call gets the same answer."""
    return amount_refusal(value, zero_allowed=True, below=negative_message)


def _require_cash_amount(amount, field, negative_message) -> None:
    refusal = cash_amount_refusal(amount, negative_message)
    if refusal:
        raise ValidationError({field: refusal})


def _log(actor, session, what, **details) -> None:
    log.record(
        log.Kind.FEE,
        operator=actor,
        obj=session,
        site=session.site,
        details={"cash_session": what, **details},
    )
