from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Upper

from libstaff.stamps import Stamped, track_history

SITE_CYCLE = "A site cannot be placed under itself or one of its own branches."


@track_history()
class Site(Stamped):
    """A district, library, school or branch. Access to a site covers its descendants."""

    class Kind(models.TextChoices):
        DISTRICT = "district", "District"
        LIBRARY = "library", "Library or school"
        BRANCH = "branch", "Branch"

    code = models.CharField(
        max_length=12, unique=True, help_text="Short unique code, for example AMS."
    )
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.LIBRARY)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(Upper("code"), name="site_code_unique_ci"),
            models.CheckConstraint(
                condition=~models.Q(parent=models.F("id")), name="site_not_own_parent"
            ),
        ]

    def __str__(self):
        return f"{self.code} - {self.name}"

    def clean(self):
        self.code = (self.code or "").strip().upper()
        if self.pk and self.parent_id and self.pk in self.parent.ancestor_ids(include_self=True):
            raise ValidationError({"parent": SITE_CYCLE})

    def ancestor_ids(self, *, include_self=False) -> list[int]:
        ids, site = [], self if include_self else self.parent
        while site is not None:
            ids.append(site.pk)
            site = site.parent
        return ids
