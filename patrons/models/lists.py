"""The short lists that records choose from, edited on the Preferences pages; data
migrations provide sensible defaults. An entry in use cannot be deleted (PROTECT)."""

from django.db import models


class _ListEntry(models.Model):
    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=80)

    class Meta:
        abstract = True
        ordering = ["name"]

    def __str__(self):
        return self.name


class PatronType(_ListEntry):
    class Meta(_ListEntry.Meta):
        pass


class NoteType(_ListEntry):
    class Meta(_ListEntry.Meta):
        pass


class BlockType(_ListEntry):
    class Meta(_ListEntry.Meta):
        pass


class IdentifierType(_ListEntry):
    class Meta(_ListEntry.Meta):
        pass


class StatisticalCategory(_ListEntry):
    class Meta(_ListEntry.Meta):
        verbose_name_plural = "statistical categories"


class Program(_ListEntry):
    class Meta(_ListEntry.Meta):
        pass
