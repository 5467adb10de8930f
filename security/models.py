import pghistory
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from libstaff.stamps import Stamped, track_history

PARENT_MORE_POWERFUL = (
    "The parent group must have the same level as this group or a higher number: a group "
    "inherits everything its parent may do."
)
PARENT_CYCLE = "A group cannot inherit from itself or from a group that inherits from it."
CHILDREN_LESS_POWERFUL = (
    "A group cannot have more power than the groups that inherit from it: {names}. Choose "
    "level {level} or a higher number, or give them another parent first."
)


class Level(models.IntegerChoices):
    """Lower number = more power. Several groups may share a level."""

    DISTRICT_ADMINISTRATOR = 0, "District Administrator"
    LIBRARY_ADMINISTRATOR = 1, "Library Administrator"
    LIBRARIAN = 2, "Librarian"
    LIBRARY_STAFF = 3, "Library Staff"
    LIBRARY_AIDE = 4, "Library Aide"
    PATRON = 5, "Patron"


class SecurityGroupQuerySet(models.QuerySet):
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
    # Evergreen's group tree: a group inherits the permissions of its parent, which has the
    # same or a lower level (a Student Aide at 4 under Library Aide at 4).
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        help_text="The group inherits every permission of its parent group.",
    )
    # Of the group's permissions (own or inherited), those its members may pass on to other
    # operators as explicit grants.
    grantable_permissions = models.ManyToManyField(
        Permission, blank=True, related_name="grantable_in_groups"
    )
    # A group is shared by its members, so only operators whose scope covers the site that
    # owns it change it, and its members' home sites lie within that site (Patron.clean).
    # No owner: the group belongs to the whole district (the six default groups do).
    owner_site = models.ForeignKey(
        "sites.Site",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="security_groups",
        verbose_name="owner site",
        help_text="Only operators whose site access covers this site change the group, and "
        "its members' home sites lie within it. Empty: the whole district.",
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
            # In a group: may give staff groups (below one's level); on one group, through a
            # delegation (GroupDelegation): may give that group.
            ("assign_securitygroup", "Can give staff groups to patrons"),
        ]

    def __str__(self):
        return f"{self.name} ({self.level})"

    def clean(self):
        """The group tree: a parent never has more power (a lower level) than its children,
        and no group inherits from itself."""
        super().clean()
        if self.parent_id is not None:
            if self.parent.level < self.level:
                raise ValidationError({"parent": PARENT_MORE_POWERFUL})
            if self.pk is not None and self.pk in self.parent.ancestor_ids():
                raise ValidationError({"parent": PARENT_CYCLE})
        if self.pk is not None and self.level is not None:
            weaker = self.children.filter(level__gt=self.level).order_by("-level", "name")
            if weaker:
                names = ", ".join(str(child) for child in weaker)
                level = weaker[0].level
                raise ValidationError(
                    {"level": CHILDREN_LESS_POWERFUL.format(names=names, level=level)}
                )

    def ancestor_ids(self) -> list[int]:
        """This group and its ancestors, nearest first (one query: the groups are few)."""
        parents = dict(SecurityGroup.objects.values_list("pk", "parent_id"))
        parents[self.pk] = self.parent_id
        return ancestor_chain(parents, self.pk)


def ancestor_chain(parents: dict[int, int | None], pk: int | None) -> list[int]:
    """`pk` and its ancestors in a parent map (id -> parent id), nearest first; stops at a
    cycle or at an id the map does not know."""
    chain = []
    while pk is not None and pk not in chain and pk in parents:
        chain.append(pk)
        pk = parents[pk]
    return chain


STAFF_LEVELS = [choice for choice in Level.choices if choice[0] < Level.PATRON]
PASSWORD_MIN_LENGTH_FLOOR = 8  # ARCHITECTURE.md rule 6: never fewer than 8 characters
BARCODE_SERIAL_DIGITS = 9  # barcode = prefix + a 9-digit serial, at most 15 characters
BARCODE_PREFIX_MAX_LENGTH = 6


@track_history()
class Preferences(Stamped):
    """The library's preferences (Alexandria's Preferences, Alma's configuration): one row,
    id 1, read through security.preferences and changed by security.services."""

    class PasswordPolicy(models.TextChoices):
        LETTERS_AND_NUMBERS = "letters_numbers", "Letters and numbers"
        UPPER_LOWER_DIGIT = "upper", "Upper-case and lower-case letters and a digit"

    SINGLETON_ID = 1

    password_min_length = models.PositiveSmallIntegerField(
        "minimum password length",
        default=PASSWORD_MIN_LENGTH_FLOOR,
        validators=[MinValueValidator(PASSWORD_MIN_LENGTH_FLOOR), MaxValueValidator(128)],
    )
    password_policy = models.CharField(
        "passwords must contain",
        max_length=20,
        choices=PasswordPolicy.choices,
        default=PasswordPolicy.LETTERS_AND_NUMBERS,
    )
    email_required_from_level = models.PositiveSmallIntegerField(
        "email address required at",
        choices=Level.choices,
        default=Level.LIBRARIAN,
        help_text="Patrons in groups of this level and every more powerful level need an email.",
    )
    home_site_access_from_level = models.PositiveSmallIntegerField(
        "home site added to site access at",
        choices=Level.choices,
        default=Level.LIBRARY_AIDE,
        help_text="Saving a patron of this level or a more powerful one gives them access to "
        "their home site.",
    )
    two_factor_from_level = models.PositiveSmallIntegerField(
        "two-factor sign-in required at",
        choices=STAFF_LEVELS,
        null=True,
        blank=True,
        default=Level.LIBRARY_ADMINISTRATOR,
        help_text="Operators of this level and every more powerful level sign in with a code "
        "from an authenticator app too.",
    )
    default_group = models.ForeignKey(
        SecurityGroup,
        verbose_name="default security group for new patrons",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"level": Level.PATRON},
    )
    barcode_prefix = models.CharField(
        max_length=BARCODE_PREFIX_MAX_LENGTH,
        blank=True,
        default="20000",
        validators=[RegexValidator(r"^[0-9]*$", "Use digits only.")],
        help_text=f"New barcodes are this prefix and a {BARCODE_SERIAL_DIGITS}-digit number.",
    )
    most_fees_waived_at_once = models.PositiveSmallIntegerField(
        "most fees waived in one action",
        default=100,
        db_default=100,
        validators=[MinValueValidator(1), MaxValueValidator(10000)],
    )

    class Meta:
        verbose_name_plural = "preferences"
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="preferences_single_row"),
            models.CheckConstraint(
                condition=models.Q(password_min_length__gte=PASSWORD_MIN_LENGTH_FLOOR),
                name="preferences_password_min_length_floor",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    email_required_from_level__lte=Level.PATRON,
                    home_site_access_from_level__lte=Level.PATRON,
                    two_factor_from_level__lt=Level.PATRON,
                ),
                name="preferences_levels_0_to_5",
            ),
        ]

    def __str__(self):
        return "Preferences"


@pghistory.track(pghistory.InsertEvent(), pghistory.DeleteEvent())
class Grant(models.Model):
    """An explicit permission (Evergreen's User Permission Editor): one permission for one
    operator at one site, covering the site's descendants. Written only by
    security.services; read by security.policy.

    A grant either adds the site to where the operator holds the permission, or limits a
    permission their group gives them to that site (Evergreen's locally assigned
    permissions override those assigned higher up): "may view patrons only at AMS"."""

    class Kind(models.TextChoices):
        ADDS = "adds", "Adds a site"
        LIMITS = "limits", "Limits to a site"

    operator = models.ForeignKey("patrons.Patron", on_delete=models.CASCADE, related_name="grants")
    permission = models.ForeignKey(Permission, on_delete=models.CASCADE, related_name="+")
    site = models.ForeignKey("sites.Site", on_delete=models.CASCADE, related_name="grants")
    granted_by = models.ForeignKey(
        "patrons.Patron", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    granted_at = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(
        max_length=8, choices=Kind.choices, default=Kind.ADDS, db_default="adds"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["operator", "permission", "site"], name="grant_unique_per_site"
            ),
        ]

    def __str__(self):
        return f"{self.permission.codename} at {self.site_id} for {self.operator_id}"


class OperatorAction(models.Model):
    """One line of the operator log (Alexandria's operator log): who did what, when, to
    which patron or object, at which site, from which address. Append-only: written by
    security.log, never changed or deleted by the application."""

    class Kind(models.TextChoices):
        LOGIN = "login", "Signed in"
        LOGIN_FAILED = "login_failed", "Sign-in failed"
        LOCKED_OUT = "locked_out", "Locked out"
        LOGOUT = "logout", "Signed out"
        PATRON_CREATED = "patron_created", "Patron registered"
        PATRON_CHANGED = "patron_changed", "Patron changed"
        PATRON_DELETED = "patron_deleted", "Patron deleted"
        GROUP_CREATED = "group_created", "Security group created"
        GROUP_CHANGED = "group_changed", "Security group changed"
        GROUP_DELETED = "group_deleted", "Security group deleted"
        GRANT_CREATED = "grant_created", "Permission granted"
        GRANT_REVOKED = "grant_revoked", "Grant revoked"
        DELEGATED = "delegated", "Group delegated"
        DELEGATION_REVOKED = "delegation_revoked", "Delegation taken back"
        SITE_CREATED = "site_created", "Site created"
        SITE_CHANGED = "site_changed", "Site changed"
        PREFERENCES_CHANGED = "preferences_changed", "Preferences changed"
        TWO_FACTOR_ENROLLED = "two_factor_enrolled", "Two-factor sign-in set up"
        TWO_FACTOR_FAILED = "two_factor_failed", "Two-factor code refused"
        TWO_FACTOR_RESET = "two_factor_reset", "Two-factor sign-in reset"
        RECOVERY_CODES_RENEWED = "recovery_codes_renewed", "Recovery codes renewed"
        IMPORT = "import", "Patrons imported"
        EXPORT = "export", "Patrons exported"
        MERGED = "patrons_merged", "Patrons merged"
        USERNAMES = "usernames_changed", "Usernames changed in bulk"
        PHOTOS = "photos_imported", "Photos imported"
        PURGED = "patrons_purged", "Patrons purged"
        FEE = "fee", "Fee action"
        REFUSED = "refused", "Refused"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    operator = models.ForeignKey(
        "patrons.Patron", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The name typed at a failed sign-in, or the operator's name when their row is gone.
    operator_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=32, choices=Kind.choices, db_index=True)
    patron = models.ForeignKey(
        "patrons.Patron", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    object_type = models.CharField(max_length=64, blank=True)  # "security.securitygroup"
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField("object", max_length=200, blank=True)
    site = models.ForeignKey(
        "sites.Site", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["operator", "-at"], name="operatoraction_operator_at"),
            models.Index(fields=["patron", "-at"], name="operatoraction_patron_at"),
            # The refusal log's cap (security.log.record_refusal) asks for the last minute.
            models.Index(fields=["action", "-at"], name="operatoraction_action_at"),
        ]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.operator_name} {self.get_action_display()}"


class GroupDelegation(UserObjectPermissionBase):
    """django-guardian's object permission on one security group (a direct foreign key, no
    text object ids): `user` may give this group to patrons (security.assign_securitygroup)
    or change its permissions (security.change_securitygroup). Written only by
    security.services; security.policy reads the rows as facts and still applies every rule
    (levels, scope, the protected group): a row alone never lets anyone act."""

    content_object = models.ForeignKey(
        SecurityGroup, on_delete=models.CASCADE, related_name="delegations"
    )
    delegated_by = models.ForeignKey(
        "patrons.Patron", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    delegated_at = models.DateTimeField(auto_now_add=True)

    class Meta(UserObjectPermissionBase.Meta):
        verbose_name = "group delegation"

    def __str__(self):
        return f"{self.permission.codename} on {self.content_object_id} for {self.user_id}"


class GroupGroupObjectPermission(GroupObjectPermissionBase):
    """Unused (LibStaff has no Django auth groups): guardian's group-side twin, with a direct
    foreign key so that guardian never falls back to its text-keyed generic table."""

    content_object = models.ForeignKey(SecurityGroup, on_delete=models.CASCADE, related_name="+")

    class Meta(GroupObjectPermissionBase.Meta):
        pass
