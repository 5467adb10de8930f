"""Query building shared by the apps."""

from django.db import IntegrityError
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce


def count_per_row(rows: QuerySet, field: str):
    """An annotation: how many of `rows` point at the annotated row through `field`, as a
    correlated subquery (0 when none). Per listed row it beats a join grouped over every
    row of `rows` (at a million patrons, ~6x for the sites page, measured by tests/bench)."""
    counts = (
        rows.filter(**{field: OuterRef("pk")})
        .order_by()
        .values(field)
        .annotate(count=Count("*"))
        .values("count")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)


def violated_constraint(error: IntegrityError) -> str | None:
    """The name of the PostgreSQL constraint an IntegrityError is about (psycopg's
    diagnostics), so that a race lost on a unique constraint can be told from any other
    failure and said in the words of the form."""
    return getattr(getattr(error.__cause__, "diag", None), "constraint_name", None)
