import pghistory
from django.conf import settings
from django.db import models


class Stamped(models.Model):
    """Who created and last updated a row, and when. Services set the actors."""

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    class Meta:
        abstract = True


def track_history(*, exclude: tuple[str, ...] = ()):
    """Record every insert, update and delete of the model with django-pghistory triggers
    (bulk updates included), with the acting operator as context."""
    return pghistory.track(
        pghistory.InsertEvent(),
        pghistory.UpdateEvent(),
        pghistory.DeleteEvent(),
        exclude=["updated_at", *exclude],
    )
