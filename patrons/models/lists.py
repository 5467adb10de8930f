"""The short lists that records choose from, edited on the Preferences pages; data
migrations provide sensible defaults. An entry in use cannot be deleted (PROTECT)."""

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models


class ListEntry(models.Model):
    """An entry of a short list (the fines app's lists are made of them too)."""

    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=80)

    class Meta:
        abstract = True
        ordering = ["name"]

    def __str__(self):
        return self.name


class PatronType(ListEntry):
    # The fines app blocks a patron whose balance reaches it (empty: no limit).
    debt_limit = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text="A patron of this type who owes this much or more is blocked.",
    )

    class Meta(ListEntry.Meta):
        constraints = [
            models.CheckConstraint(
                condition=models.Q(debt_limit__isnull=True) | models.Q(debt_limit__gt=0),
                name="patron_type_debt_limit_positive",
            )
        ]


class NoteType(ListEntry):
    class Meta(ListEntry.Meta):
        pass


class BlockType(ListEntry):
    class Meta(ListEntry.Meta):
        pass


class IdentifierType(ListEntry):
    class Meta(ListEntry.Meta):
        pass


class StatisticalCategory(ListEntry):
    class Meta(ListEntry.Meta):
        verbose_name_plural = "statistical categories"


class Program(ListEntry):
    class Meta(ListEntry.Meta):
        pass
