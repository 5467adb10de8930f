"""Notes, identifiers and blocks on a patron's record."""

from django.db import models
from django.utils import timezone

from libstaff.stamps import Stamped, track_history


@track_history()
class Note(Stamped):
    patron = models.ForeignKey("patrons.Patron", on_delete=models.CASCADE, related_name="notes")
    note_type = models.ForeignKey("patrons.NoteType", on_delete=models.PROTECT)
    text = models.TextField()
    owner_site = models.ForeignKey("sites.Site", on_delete=models.PROTECT, related_name="+")
    is_popup = models.BooleanField("pop-up", default=False)
    is_visible_to_patron = models.BooleanField("visible to the patron", default=False)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return self.text[:60]


@track_history()
class Identifier(Stamped):
    """Another number a patron is known by (student id, national library card...). Values
    are unique across all patrons, as Alma requires; search matches the whole value."""

    patron = models.ForeignKey(
        "patrons.Patron", on_delete=models.CASCADE, related_name="identifiers"
    )
    identifier_type = models.ForeignKey("patrons.IdentifierType", on_delete=models.PROTECT)
    value = models.CharField(max_length=100, unique=True)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self):
        return self.value


class BlockQuerySet(models.QuerySet):
    def active(self):
        """Not lifted, and not expired: a block stops counting by itself on the day after
        its expiry date (no job needed)."""
        today = timezone.localdate()
        return self.filter(
            models.Q(expires_on__isnull=True) | models.Q(expires_on__gte=today),
            lifted_at__isnull=True,
        )


@track_history()
class Block(Stamped):
    """Stops checkouts, renewals and requests until it expires or is removed."""

    patron = models.ForeignKey("patrons.Patron", on_delete=models.CASCADE, related_name="blocks")
    block_type = models.ForeignKey("patrons.BlockType", on_delete=models.PROTECT)
    expires_on = models.DateField(null=True, blank=True)
    owner_site = models.ForeignKey("sites.Site", on_delete=models.PROTECT, related_name="+")
    note = models.CharField(max_length=300, blank=True)
    # Lifting keeps the block, with who lifted it, when and why (the history shows it too).
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        "patrons.Patron", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    lift_reason = models.CharField("reason for lifting", max_length=300, blank=True)

    objects = BlockQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(lifted_at__isnull=True) | ~models.Q(lift_reason=""),
                name="block_lifted_with_a_reason",
            ),
        ]

    def __str__(self):
        return str(self.block_type)

    @property
    def is_lifted(self) -> bool:
        return self.lifted_at is not None

    @property
    def is_active(self) -> bool:
        not_expired = self.expires_on is None or self.expires_on >= timezone.localdate()
        return not_expired and not self.is_lifted
