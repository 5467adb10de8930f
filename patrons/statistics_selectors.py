"""Reads of the Statistics and Programs tabs, within the policy's scope."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import QuerySet

from patrons.models import Patron
from security import policy
from sites.models import Site

EDIT = "patrons.edit_personal"
CHART_WIDTH, CHART_HEIGHT, CHART_MARGIN = 480, 160, 24


def statistic_owner_sites(*, operator) -> list[Site]:
    """Sites that may own a statistic the operator adds: those where they may edit."""
    return list(policy.scope(operator, EDIT, Site).order_by("code"))


def patron_statistics(*, operator, patron: Patron) -> QuerySet:
    """The patron's statistics whose owner site lies within the operator's scope."""
    visible = policy.scope(operator, "patrons.view_patron", patron.statistics.all())
    return visible.select_related("category", "owner_site", "created_by")


@dataclass(frozen=True)
class Figures:
    """What nobody edits: when and by whom the record was made and last changed, the last
    sign-in and the number of changes (the audit trail's events)."""

    created_at: object
    created_by: str
    updated_at: object
    updated_by: str
    last_login: object
    changes: int


def record_figures(*, reader, patron: Patron) -> Figures:
    """Staff names only for readers who may view that staff member."""
    return Figures(
        created_at=patron.created_at,
        created_by=_staff_name(reader, patron.created_by),
        updated_at=patron.updated_at,
        updated_by=_staff_name(reader, patron.updated_by),
        last_login=patron.last_login,
        changes=patron.events.count(),
    )


def _staff_name(reader, staff) -> str:
    if staff is None:
        return "—"
    if policy.can(reader, "patrons.view_patron", staff):
        return staff.display_name
    return "another operator"


@dataclass(frozen=True)
class ProgramChart:
    """One program's measures, oldest first, and their polyline in the chart's box."""

    program: object
    measures: list
    points: str  # "x,y x,y ..." for an SVG polyline
    low: Decimal
    high: Decimal
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT


def program_charts(patron: Patron) -> list[ProgramChart]:
    """A chart per program the patron has measures of (one query)."""
    by_program: dict[int, list] = {}
    for measure in patron.program_measures.select_related("program", "created_by"):
        by_program.setdefault(measure.program_id, []).append(measure)
    return [_chart(measures) for measures in by_program.values()]


def _chart(measures: list) -> ProgramChart:
    values = [measure.value for measure in measures]
    low, high = min(values), max(values)
    first, last = measures[0].measured_on, measures[-1].measured_on
    points = " ".join(
        f"{_x(measure.measured_on, first, last)},{_y(measure.value, low, high)}"
        for measure in measures
    )
    return ProgramChart(measures[0].program, measures, points, low, high)


def _x(day: date, first: date, last: date) -> int:
    span = (last - first).days or 1
    inner = CHART_WIDTH - 2 * CHART_MARGIN
    return CHART_MARGIN + round(inner * (day - first).days / span)


def _y(value: Decimal, low: Decimal, high: Decimal) -> int:
    span = (high - low) or Decimal(1)
    inner = CHART_HEIGHT - 2 * CHART_MARGIN
    return CHART_HEIGHT - CHART_MARGIN - round(inner * (value - low) / span)
