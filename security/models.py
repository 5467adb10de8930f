import pghistory
from django.contrib.auth.models import Permission
from django.db import models

from libstaff.stamps import Stamped, track_history


class Level(models.IntegerChoices):
    """Lower number = more power. Several groups may share a level."""

    DISTRICT_ADMINISTRATOR = 0, "District Administrator"
    LIBRARY_ADMINISTRATOR = 1, "Library Administrator"
    LIBRARIAN = 2, "Librarian"
    LIBRARY_STAFF = 3, "Library Staff"
    LIBRARY_AIDE = 4, "Library Aide"
    PATRON = 5, "Patron"


class SecurityGroupQuerySet(models.QuerySet):
    def default_for_new_patrons(self) -> "SecurityGroup":
        return self.filter(level=Level.PATRON).order_by("pk").first()

    def district_administrators(self):
        return self.filter(level=Level.DISTRICT_ADMINISTRATOR)


@track_history()
class SecurityGroup(Stamped):
    name = models.CharField(max_length=80, unique=True)
    level = models.PositiveSmallIntegerField(choices=Level.choices)
    description = models.TextField(blank=True)
    permissions = models.ManyToManyField(Permission, blank=True, related_name="security_groups")
    is_protected = models.BooleanField(
        default=False,
        help_text="Protected groups (District Administrator) cannot be modified or deleted.",
    )

    objects = SecurityGroupQuerySet.as_manager()

    class Meta:
        ordering = ["level", "name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(level__gte=0, level__lte=5), name="securitygroup_level_0_to_5"
            ),
        ]
        permissions = [
            ("grant_permission", "Can give an operator an explicit permission at a site"),
            ("manage_preferences", "Can change preferences"),
            ("view_operator_log", "Can view the operator log"),
        ]

    def __str__(self):
        return f"{self.name} ({self.level})"


@pghistory.track(pghistory.InsertEvent(), pghistory.DeleteEvent())
class Grant(models.Model):
    """An explicit permission (Evergreen's User Permission Editor): one permission for one
    operator at one site, covering the site's descendants. Written only by
    security.services; read by security.policy."""

    operator = models.ForeignKey("patrons.Patron", on_delete=models.CASCADE, related_name="grants")
    permission = models.ForeignKey(Permission, on_delete=models.CASCADE, related_name="+")
    site = models.ForeignKey("sites.Site", on_delete=models.CASCADE, related_name="grants")
    granted_by = models.ForeignKey(
        "patrons.Patron", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    granted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["operator", "permission", "site"], name="grant_unique_per_site"
            ),
        ]

    def __str__(self):
        return f"{self.permission.codename} at {self.site_id} for {self.operator_id}"
