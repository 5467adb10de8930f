"""Reads for the cash pages: the sites an operator may open a drawer at or report on, an
operator's own session, a receipt they may see, and the per-site, per-day cash report.
Every read starts from the policy."""

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from fines.models import CashSession, Receipt
from security import policy
from sites.models import Site

PAY = "fines.pay_fee"
REPORT = "fines.waive_fee"  # who reads the cash report: those who may waive
VIEW = "fines.view_fee"
ZERO = Decimal("0.00")


# --- cash sessions -----------------------------------------------------------------------


def cash_sites(*, operator) -> QuerySet:
    """Where the operator may open a cash session: where they may take payments."""
    return policy.scope(operator, PAY, Site).order_by("code")


def session_receipt_count(*, session: CashSession) -> int:
    """How many receipts the drawer has seen, never what they add up to (the count is
    blind)."""
    return session.receipts.count()


def own_closed_session(*, operator, session_id) -> CashSession | None:
    """One of the operator's own closed sessions, to show its result after closing."""
    if not isinstance(session_id, int):
        return None
    return (
        CashSession.objects.select_related("site")
        .filter(pk=session_id, operator=operator, closed_at__isnull=False)
        .first()
    )


# --- receipts ----------------------------------------------------------------------------


def receipt_visible(*, operator, pk: int) -> Receipt | None:
    """A receipt the operator may read, else None (the view answers 404): within their
    site scope, and either theirs or of a patron whose fees they may view."""
    receipt = (
        Receipt.objects.select_related(
            "site", "payment_method", "patron__security_group", "undoes__site"
        )
        .filter(pk=pk)
        .first()
    )
    if receipt is None or not _in_site_scope(operator, receipt.site_id):
        return None
    took_it = receipt.operator_id is not None and receipt.operator_id == operator.pk
    sees_patron = receipt.patron is not None and policy.can(operator, VIEW, receipt.patron)
    return receipt if took_it or sees_patron else None


def receipts_undoing(*, receipt: Receipt) -> list[Receipt]:
    """The refunds that name this receipt, oldest first."""
    return list(receipt.undone_by.select_related("site").order_by("at", "pk"))


def _in_site_scope(operator, site_id: int) -> bool:
    scope_ids = policy.site_scope_ids(operator)  # None: a District Administrator's all
    return scope_ids is None or site_id in scope_ids


# --- the cash report ---------------------------------------------------------------------


def report_sites(*, operator) -> QuerySet:
    return policy.scope(operator, REPORT, Site).order_by("code")


@dataclass
class SessionRow:
    session: CashSession
    taken: Decimal
    given: Decimal

    @property
    def expected(self) -> Decimal:
        """As recorded at closing; for a drawer still open, what it should hold so far."""
        if self.session.expected is not None:
            return self.session.expected
        return self.session.opening_float + self.taken - self.given

    @property
    def difference(self) -> Decimal | None:
        return self.session.difference


@dataclass
class SiteReport:
    site: Site
    rows: list[SessionRow] = field(default_factory=list)

    def _total(self, values) -> Decimal:
        return sum(values, ZERO)

    @property
    def opening_float(self) -> Decimal:
        return self._total(row.session.opening_float for row in self.rows)

    @property
    def taken(self) -> Decimal:
        return self._total(row.taken for row in self.rows)

    @property
    def given(self) -> Decimal:
        return self._total(row.given for row in self.rows)

    @property
    def expected(self) -> Decimal:
        return self._total(row.expected for row in self.rows)

    @property
    def counted(self) -> Decimal:
        """Of the closed sessions only: an open drawer has no count yet."""
        return self._total(row.session.counted for row in self.rows if row.difference is not None)

    @property
    def difference(self) -> Decimal:
        return self._total(row.difference for row in self.rows if row.difference is not None)

    @property
    def open_count(self) -> int:
        return sum(1 for row in self.rows if row.session.is_open)


def cash_report(*, operator, day: datetime.date, sites) -> list[SiteReport]:
    """Every cash session opened on `day` (in the library's time zone) at each of `sites`
    within the operator's report scope, with what it took and gave back: one query,
    whatever the number of sessions and receipts. Sites without a session are listed
    too, so that "no cash today" is visibly so."""
    reports = {site.pk: SiteReport(site) for site in sites if policy.can(operator, REPORT, site)}
    sessions = (
        CashSession.objects.select_related("site")
        .filter(site_id__in=reports, opened_at__date=day)
        .annotate(
            taken=Coalesce(
                Sum("receipts__total", filter=Q(receipts__kind=Receipt.Kind.PAYMENT)), ZERO
            ),
            given=Coalesce(
                Sum("receipts__total", filter=Q(receipts__kind=Receipt.Kind.REFUND)), ZERO
            ),
        )
        .order_by("site__code", "opened_at", "pk")
    )
    for session in sessions:
        reports[session.site_id].rows.append(SessionRow(session, session.taken, session.given))
    return list(reports.values())
