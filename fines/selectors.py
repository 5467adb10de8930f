"""Reads of a patron's fees for staff: the Fines tab. A fee is seen only by operators whose
scope covers its owner site (security.policy, in SQL); the balances are the patron's whole
balances (what they owe, wherever), with a word when some fees are not listed."""

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from fines.models import Balance, BursarExport, Fee, FeeTransaction, FeeType
from fines.services import ledger
from security import policy
from sites.models import Site

ZERO = Decimal("0.00")


class StatusFilter:
    ACTIVE = "active"
    CLOSED = "closed"
    DISPUTED = "disputed"
    TRANSFERRED = "transferred"
    ALL = "all"
    CHOICES = [
        (ACTIVE, "Active"),
        (DISPUTED, "In dispute"),
        (TRANSFERRED, "Transferred"),
        (CLOSED, "Closed"),
        (ALL, "All"),
    ]


@dataclass
class FeeFilters:
    status: str = StatusFilter.ACTIVE
    fee_type: FeeType | None = None
    owner_site: Site | None = None


@dataclass
class FinesPage:
    fees: list[Fee]
    balance: Balance
    filtered_total: Decimal
    hidden_count: int  # the patron's fees at sites outside the operator's scope
    exports: list[BursarExport] = field(default_factory=list)
    may: dict[str, bool] = field(default_factory=dict)  # action -> on at least one fee

    @property
    def owed(self) -> Decimal:
        return self.balance.active


def visible_fees(operator, patron) -> QuerySet:
    return policy.scope(operator, ledger.VIEW, Fee.objects.filter(patron=patron))


def fines_page(*, operator, patron, filters: FeeFilters) -> FinesPage:
    """The tab: the fees the filters choose, each with its ledger lines and what the
    operator may do to it, in a number of queries that does not grow with the fees."""
    visible = visible_fees(operator, patron)
    chosen = _filtered(visible, filters)
    lines = FeeTransaction.objects.select_related(
        "payment_method", "waive_reason", "receipt__site"
    ).annotate(refunded=Coalesce(Sum("refunds__amount"), ZERO))
    fees = list(
        chosen.select_related("fee_type", "owner_site")
        .prefetch_related(
            Prefetch("transactions", queryset=lines.order_by("at", "pk"), to_attr="ledger")
        )
        .order_by("-created_at", "-pk")
    )
    may = {action: False for action in _ROW_ACTIONS}
    for fee in fees:
        fee.patron = patron  # the policy reads the patron's level and site: no query a row
        fee.may = {action: policy.can(operator, perm, fee) for action, perm in _ROW_ACTIONS.items()}
        fee.selectable = any(fee.may.values())
        for action, allowed in fee.may.items():
            may[action] = may[action] or allowed
    counts = Fee.objects.filter(patron=patron).aggregate(
        all=Count("pk"), seen=Count("pk", filter=Q(pk__in=visible.values("pk")))
    )
    return FinesPage(
        fees=fees,
        balance=patron_balance(patron),
        filtered_total=sum((fee.signed_remaining for fee in fees), ZERO),
        hidden_count=counts["all"] - counts["seen"],
        exports=list(
            BursarExport.objects.filter(patron=patron).select_related("by").order_by("-at")[:20]
        ),
        may=may,
    )


def patron_balance(patron) -> Balance:
    """The patron's balance row; zeros for a patron who never had a fee."""
    balance = Balance.objects.filter(patron=patron).first()
    if balance is None:
        balance = Balance(patron=patron)
        balance.net = ZERO
    return balance


_ROW_ACTIONS = {
    "pay": ledger.PAY,
    "waive": ledger.WAIVE,
    "dispute": ledger.DISPUTE,
    "refund": ledger.REFUND,
    "transfer": ledger.TRANSFER,
}


def _filtered(fees: QuerySet, filters: FeeFilters) -> QuerySet:
    if filters.status != StatusFilter.ALL:
        fees = fees.filter(status=filters.status)
    if filters.fee_type is not None:
        fees = fees.filter(fee_type=filters.fee_type)
    if filters.owner_site is not None:
        fees = fees.filter(owner_site=filters.owner_site)
    return fees


def payment_visible(operator, patron, payment_id: int) -> bool:
    """A payment of one of this patron's fees that the operator sees."""
    return FeeTransaction.objects.filter(
        pk=payment_id, kind=FeeTransaction.Kind.PAYMENT, fee__in=visible_fees(operator, patron)
    ).exists()


def exported_fees(export: BursarExport) -> list[Fee]:
    fees = Fee.objects.filter(
        transactions__bursar_export=export, transactions__kind=FeeTransaction.Kind.TRANSFER
    ).select_related("patron__security_group")
    return list(fees.distinct())


def fee_types(*, credit: bool) -> QuerySet:
    return FeeType.objects.filter(is_credit=credit).order_by("name")


def owner_sites(*, operator, action: str) -> list[Site]:
    """Sites that may own a fee the operator adds with `action`: where they hold it."""
    return list(policy.scope(operator, action, Site).order_by("code"))


def filter_sites(*, operator) -> QuerySet:
    return policy.scope(operator, ledger.VIEW, Site).order_by("code")


def may_add(operator, patron, action: str, sites: list[Site]) -> bool:
    """Whether the operator may add a fee (or credit) to this patron, given the `sites`
    that may own it (`owner_sites`): only the patron's rule is left to ask, so one site
    answers for all."""
    return bool(sites) and policy.can(operator, action, Fee(patron=patron, owner_site=sites[0]))
