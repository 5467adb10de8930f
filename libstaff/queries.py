"""Query building shared by the apps."""

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
