"""The lists records choose from, as the Preferences pages edit them: which lists there
are, and their entries with whether records use them (an entry in use cannot be deleted)."""

import operator
from dataclasses import dataclass
from functools import reduce

from django.db import connection
from django.db.models import (
    BooleanField,
    Exists,
    ExpressionWrapper,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Value,
)

from patrons.models import (
    BlockType,
    IdentifierType,
    NoteType,
    PatronType,
    Program,
    StatisticalCategory,
)


@dataclass(frozen=True)
class PreferenceList:
    slug: str
    label: str
    model: type[Model]
    description: str
    extra_fields: tuple[str, ...] = ()  # edited next to code and name (a default amount...)

    @property
    def fields(self) -> tuple[str, ...]:
        return ("code", "name", *self.extra_fields)


PREFERENCE_LISTS = {
    entry.slug: entry
    for entry in [
        PreferenceList(
            "patron-types",
            "Patron types",
            PatronType,
            "What kind of patron: student, adult... and the debt limit of each.",
            extra_fields=("debt_limit",),
        ),
        PreferenceList("note-types", "Note types", NoteType, "The kinds of note on a record."),
        PreferenceList("block-types", "Block types", BlockType, "Why a patron is blocked."),
        PreferenceList(
            "identifier-types",
            "Identifier types",
            IdentifierType,
            "Other numbers a patron is known by: student ID, national card...",
        ),
        PreferenceList(
            "statistical-categories",
            "Statistical categories",
            StatisticalCategory,
            "Groupings for reports: resident, school...",
        ),
        PreferenceList(
            "programs", "Programs", Program, "Programs patrons enrol in: summer reading..."
        ),
    ]
}


def register(preference_list: PreferenceList) -> None:
    """Another app's list (the fines app's fee types...), from its AppConfig.ready."""
    PREFERENCE_LISTS[preference_list.slug] = preference_list


def entries(preference_list: PreferenceList) -> QuerySet:
    """The list's entries by name, each with `in_use`: a record refers to it."""
    model = preference_list.model
    return model.objects.annotate(in_use=_used(model)).order_by("name", "pk")


def _used(model: type[Model]):
    uses = [
        Q(
            Exists(
                relation.related_model._base_manager.filter(**{relation.field.name: OuterRef("pk")})
            )
        )
        for relation in model._meta.related_objects
    ]
    if not uses:
        return Value(False)
    return ExpressionWrapper(reduce(operator.or_, uses), output_field=BooleanField())


def in_use(model: type[Model], pks) -> list[Model]:
    """Of the entries `pks`, those records refer to."""
    return list(model.objects.filter(pk__in=pks).annotate(used=_used(model)).filter(used=True))


def entry_counts() -> dict[str, int]:
    """The number of entries of every list, in one query (a count per list's table)."""
    specs = list(PREFERENCE_LISTS.items())
    quote = connection.ops.quote_name
    counts = ", ".join(
        f"(SELECT count(*) FROM {quote(spec.model._meta.db_table)})"  # noqa: S608 (names from _meta)
        for _, spec in specs
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {counts}")
        row = cursor.fetchone()
    return {slug: count for (slug, _), count in zip(specs, row, strict=True)}
