"""Notes, identifiers, blocks and attachments on a patron's record."""

import uuid

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


def attachment_path(instance, filename: str) -> str:
    """A name that reveals nothing: not the patron, not the file's own name (kept in
    Attachment.file_name for the download)."""
    return f"patron-attachments/{uuid.uuid4().hex}"


@track_history()
class Attachment(Stamped):
    """A file on the record (a signed form, an ID scan), stored under MEDIA_ROOT and served
    only through patrons.views.attachments, which asks the policy."""

    patron = models.ForeignKey(
        "patrons.Patron", on_delete=models.CASCADE, related_name="attachments"
    )
    file = models.FileField(upload_to=attachment_path, max_length=200)
    file_name = models.CharField("file name", max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    description = models.CharField(max_length=200)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return self.description or self.file_name


@track_history()
class PatronStatistic(Stamped):
    """A statistical category on a patron (Alexandria's Statistics tab), with a note, owned
    by a site: only operators whose scope covers that site see it."""

    patron = models.ForeignKey(
        "patrons.Patron", on_delete=models.CASCADE, related_name="statistics"
    )
    category = models.ForeignKey("patrons.StatisticalCategory", on_delete=models.PROTECT)
    note = models.CharField(max_length=200, blank=True)
    owner_site = models.ForeignKey("sites.Site", on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["category__name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["patron", "category", "owner_site"], name="patronstatistic_unique"
            ),
        ]

    def __str__(self):
        return str(self.category)


@track_history()
class ProgramMeasure(Stamped):
    """One measure of a reading program (Alexandria's Programs tab): a value at a date,
    with the grade the patron was in and where the figure came from."""

    patron = models.ForeignKey(
        "patrons.Patron", on_delete=models.CASCADE, related_name="program_measures"
    )
    program = models.ForeignKey("patrons.Program", on_delete=models.PROTECT)
    grade = models.CharField(max_length=20, blank=True)
    value = models.DecimalField(max_digits=8, decimal_places=2)
    measured_on = models.DateField("date")
    source = models.CharField(max_length=80, blank=True)

    class Meta:
        ordering = ["program__name", "measured_on", "pk"]

    def __str__(self):
        return f"{self.program} {self.value} ({self.measured_on})"


class ProxyLinkQuerySet(models.QuerySet):
    def active(self):
        today = timezone.localdate()
        return self.filter(models.Q(expires_on__isnull=True) | models.Q(expires_on__gte=today))


@track_history()
class ProxyLink(Stamped):
    """Alma's "Proxy For": `proxy` may act for `patron` (collect their holds, renew their
    loans) until `expires_on`, if given. Both records show the link."""

    proxy = models.ForeignKey(
        "patrons.Patron", on_delete=models.CASCADE, related_name="proxy_for_links"
    )
    patron = models.ForeignKey(
        "patrons.Patron", on_delete=models.CASCADE, related_name="proxy_links"
    )
    expires_on = models.DateField("until", null=True, blank=True)

    objects = ProxyLinkQuerySet.as_manager()

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["proxy", "patron"], name="proxylink_unique"),
            models.CheckConstraint(
                condition=~models.Q(proxy=models.F("patron")), name="proxylink_not_oneself"
            ),
        ]

    def __str__(self):
        return f"{self.proxy} for {self.patron}"

    @property
    def is_active(self) -> bool:
        return self.expires_on is None or self.expires_on >= timezone.localdate()
