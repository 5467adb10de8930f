"""Statistical categories and reading-program measures on a patron's record: added and
removed by operators who may edit the Personal tab (statistics also need the owner site
within their scope), each change logged."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from libstaff.queries import violated_constraint
from patrons.models import Patron, PatronStatistic, ProgramMeasure
from patrons.services.patron import _acting
from security import log, policy

__all__ = [
    "STATISTIC_TWICE",
    "program_measure_add",
    "program_measure_delete",
    "statistic_add",
    "statistic_delete",
]

EDIT = "patrons.edit_personal"
STATISTIC_TWICE = "The patron has this category for this site already."
STATISTIC_UNIQUE = "patronstatistic_unique"


@transaction.atomic
def statistic_add(
    *, actor: Patron, patron: Patron, category, owner_site, note: str = ""
) -> PatronStatistic:
    statistic = PatronStatistic(
        patron=patron,
        category=category,
        owner_site=owner_site,
        note=note,
        created_by=actor,
        updated_by=actor,
    )
    policy.require(actor, EDIT, statistic)
    with _acting(actor):
        statistic.full_clean(validate_constraints=False)
        try:
            with transaction.atomic():
                statistic.save()
        except IntegrityError as error:
            if violated_constraint(error) != STATISTIC_UNIQUE:
                raise
            raise ValidationError({"category": STATISTIC_TWICE}) from error
    _log(actor, patron, statistic, "statistic_added")
    return statistic


@transaction.atomic
def statistic_delete(*, actor: Patron, patron: Patron, statistic_id: int) -> PatronStatistic:
    """Raises PatronStatistic.DoesNotExist for an id that is not one of this patron's
    statistics the actor may see; PermissionDenied for one they see but may not change."""
    visible = policy.scope(actor, "patrons.view_patron", patron.statistics.all())
    statistic = (
        visible.select_for_update(of=("self",)).select_related("category").get(pk=statistic_id)
    )
    policy.require(actor, EDIT, statistic)
    _log(actor, patron, statistic, "statistic_removed")
    with _acting(actor):
        statistic.delete()
    return statistic


@transaction.atomic
def program_measure_add(*, actor: Patron, patron: Patron, **fields) -> ProgramMeasure:
    policy.require(actor, EDIT, patron)
    measure = ProgramMeasure(patron=patron, created_by=actor, updated_by=actor, **fields)
    with _acting(actor):
        measure.full_clean()
        measure.save()
    _log(actor, patron, measure, "program_measure_added")
    return measure


@transaction.atomic
def program_measure_delete(*, actor: Patron, patron: Patron, measure_id: int) -> ProgramMeasure:
    """Raises ProgramMeasure.DoesNotExist for an id that is not one of this patron's."""
    policy.require(actor, EDIT, patron)
    measure = patron.program_measures.select_related("program").get(pk=measure_id)
    _log(actor, patron, measure, "program_measure_removed")
    with _acting(actor):
        measure.delete()
    return measure


def _log(actor, patron, record, what: str) -> None:
    log.record(
        log.Kind.PATRON_CHANGED,
        operator=actor,
        patron=patron,
        obj=record,
        details={what: str(record)},
    )
