"""The short lists that records choose from. Preferences will let administrators edit
them; a data migration provides sensible defaults."""

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
