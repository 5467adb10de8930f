from datetime import date

import pghistory
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.contrib.auth.models import _user_has_module_perms, _user_has_perm
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Coalesce, Lower
from django.utils import timezone

from libstaff.stamps import Stamped
from security import preferences
from security.models import Level


def email_required_message() -> str:
    """Rule 6, with the level the preferences set (Librarian (2) by default)."""
    level = Level(preferences.current().email_required_from_level)
    if level == Level.DISTRICT_ADMINISTRATOR:
        return f"An email address is required for the {level.label} ({level}) security groups."
    return f"An email address is required for {level.label} ({level}) and higher security groups."


BARCODE_TAKEN = "Another patron already has this barcode."
USERNAME_TAKEN = "Another account already uses this username (usernames ignore case)."
USERNAME_UNIQUE = "patron_username_unique_ci"  # the constraint that has the last word
HOME_SITE_OUTSIDE_GROUP = (
    "The security group {group} belongs to {site}: its members' home sites must be {site} "
    "or one of its branches."
)


# Search support (patrons.selectors.patron_search). The SQL functions are IMMUTABLE wrappers
# around unaccent() made by migration 0007_search, so that their results can be stored and
# indexed: libstaff_fold(text) lowers, strips accents, drops apostrophes, hyphens to spaces.
NO_EXPIRY = date(9999, 12, 31)  # sorts patrons without an expiry date after every other


def username_taken(username: str, *, exclude_pk: int | None = None) -> bool:
    """Whether another account has this username, ignoring case as the unique constraint
    (USERNAME_UNIQUE, on lower(username)) does."""
    taken = Patron.objects.alias(lowered=Lower("username")).filter(lowered=username.lower())
    return (taken.exclude(pk=exclude_pk) if exclude_pk else taken).exists()


def fold(expression) -> models.Func:
    """The same folding as the stored search columns, for a search term or a column."""
    return models.Func(expression, function="libstaff_fold", output_field=models.TextField())


SEARCH_NAME = models.Func(
    *["first_name", "middle_name", "last_name", "preferred_first_name", "preferred_last_name"],
    function="libstaff_search_name",
    output_field=models.TextField(),
)
SORT_NAME = models.Func(
    *["last_name", "first_name", "preferred_last_name", "preferred_first_name"],
    function="libstaff_sort_name",
    output_field=models.TextField(),
)
BARCODE_MISSING = models.ExpressionWrapper(
    models.Q(barcode__isnull=True), output_field=models.BooleanField()
)
BARCODE_SORT = Coalesce("barcode", models.Value(""))
EXPIRY_SORT = Coalesce("expiry_date", models.Value(NO_EXPIRY))


class PatronQuerySet(models.QuerySet):
    def visible_to(self, operator):
        """The patrons this operator may see on the staff side (the policy, in SQL)."""
        from security import policy

        return policy.scope(operator, "patrons.view_patron", self)

    def active_district_administrators(self):
        return self.filter(is_active=True, security_group__level=Level.DISTRICT_ADMINISTRATOR)

    def able_to_sign_in(self):
        """Active, with a username and a usable password."""
        unusable = {"password__startswith": UNUSABLE_PASSWORD_PREFIX}
        return self.filter(is_active=True, username__isnull=False).exclude(**unusable)


class PatronManager(BaseUserManager.from_queryset(PatronQuerySet)):
    use_in_migrations = True

    def get_by_natural_key(self, username):
        """Sign-in is by username or, failing that, an email that only one account uses.

        Accounts without a username cannot sign in. Both lookups are case-insensitive,
        through lower() as the unique username constraint and the email index have it
        (`iexact` compiles to UPPER(), which no index has).
        """
        if not username:
            raise self.model.DoesNotExist
        folded = username.lower()
        can_sign_in = self.select_related("security_group").filter(username__isnull=False)
        by_username = can_sign_in.alias(key=Lower("username")).filter(key=folded).first()
        if by_username is not None:
            return by_username
        by_email = list(can_sign_in.alias(key=Lower("email")).filter(key=folded)[:2])
        if len(by_email) != 1:
            raise self.model.DoesNotExist
        return by_email[0]


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    exclude=[
        "password",
        "pin",
        "last_login",
        "updated_at",
        "is_active",
        "search_name",
        "sort_name",
    ],
)
class Patron(AbstractBaseUser, Stamped):
    """A library patron. Operators are patrons whose security group is below level 5."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CARD_LOST = "card_lost", "Card lost"
        SUSPENDED = "suspended", "Suspended"
        TRANSFERRED = "transferred", "Transferred"
        INACTIVE = "inactive", "Inactive"
        OTHER = "other", "Other"

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        MAIL = "mail", "Mail"

    class Source(models.TextChoices):
        STAFF = "staff", "Entered by staff"
        IMPORT = "import", "Managed by an import"

    # Personal
    title = models.CharField(max_length=20, blank=True)
    first_name = models.CharField(max_length=80, blank=True)
    middle_name = models.CharField(max_length=80, blank=True)
    last_name = models.CharField(max_length=80)
    preferred_first_name = models.CharField(max_length=80, blank=True)
    preferred_last_name = models.CharField(max_length=80, blank=True)
    birth_date = models.DateField(null=True, blank=True)
    gender = models.CharField(max_length=30, blank=True)
    barcode = models.CharField(max_length=15, unique=True, null=True, blank=True)
    admin_system_id = models.CharField(max_length=40, blank=True)
    patron_type = models.ForeignKey(
        "patrons.PatronType",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="patrons",
    )
    cohort = models.CharField(max_length=40, blank=True)
    form_class = models.CharField(max_length=40, blank=True)
    home_site = models.ForeignKey("sites.Site", on_delete=models.PROTECT, related_name="patrons")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE)
    expiry_date = models.DateField(null=True, blank=True)
    purge_date = models.DateField(null=True, blank=True)
    is_generic = models.BooleanField(
        "generic account",
        default=False,
        help_text="A shared account restricted to its sites; it never borrows.",
    )
    is_staff_member = models.BooleanField("staff member", default=False)
    is_protected = models.BooleanField(
        "protected", default=False, help_text="Protected records cannot be deleted."
    )
    photo = models.ImageField(upload_to="patron-photos/", blank=True)

    # Contact
    email = models.EmailField("primary email", blank=True)
    communication_channel = models.CharField(
        max_length=5, choices=Channel.choices, default=Channel.MAIL
    )
    language = models.CharField(max_length=10, default="en")
    additional_email = models.EmailField(
        "additional communication email",
        blank=True,
        db_default="",
        help_text="Gets a copy of every notice (a parent's address, for example).",
    )
    notify_overdue = models.BooleanField("overdue notices", default=True, db_default=True)
    notify_hold_ready = models.BooleanField("hold-ready notices", default=True, db_default=True)
    notify_fines = models.BooleanField("fine notices", default=True, db_default=True)
    keep_history = models.BooleanField("keep circulation history", default=False, db_default=False)

    # Access
    username = models.CharField(
        max_length=150,
        unique=True,
        null=True,
        blank=True,
        help_text="Without a username the patron cannot sign in.",
    )
    security_group = models.ForeignKey(
        "security.SecurityGroup", on_delete=models.PROTECT, related_name="members"
    )
    site_access = models.ManyToManyField("sites.Site", blank=True, related_name="operators")
    pin = models.CharField(
        "self-check PIN",
        max_length=128,
        blank=True,
        db_default="",
        help_text="Four digits for self-check machines; stored hashed.",
    )
    source = models.CharField(
        "account type",
        max_length=6,
        choices=Source.choices,
        default=Source.STAFF,
        db_default=Source.STAFF,
    )
    import_feed = models.ForeignKey(
        "patrons.ImportFeed",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="patrons",
        help_text="The import that manages this patron (its rows keep the record up to date).",
    )
    must_change_password = models.BooleanField("force password change at next login", default=False)
    is_active = models.GeneratedField(
        expression=models.Case(
            models.When(status="active", then=models.Value(True)),
            default=models.Value(False),
        ),
        output_field=models.BooleanField(),
        db_persist=True,
    )
    version = models.PositiveIntegerField(
        default=1, editable=False, help_text="Raised on every save; refuses stale edits."
    )

    # Search: every name folded into one string (" jose maria muller pepe"), trigram-indexed
    # for substrings and word prefixes; and the name as listed (preferred names first), folded,
    # in byte order so that "Öztürk" files under O and "de la Cruz" under D on any database.
    search_name = models.GeneratedField(
        expression=SEARCH_NAME, output_field=models.TextField(), db_persist=True
    )
    sort_name = models.GeneratedField(
        expression=SORT_NAME, output_field=models.TextField(db_collation="C"), db_persist=True
    )

    objects = PatronManager()

    USERNAME_FIELD = "username"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["last_name", "email"]

    class Meta:
        ordering = ["last_name", "first_name", "pk"]
        constraints = [
            models.UniqueConstraint(Lower("username"), name=USERNAME_UNIQUE),
        ]
        indexes = [
            GinIndex(OpClass("search_name", name="gin_trgm_ops"), name="patron_search_name_trgm"),
            # search_name (and the site, for operators with several sites) is included so
            # that a name search walks these in list order without reading the table
            # (patrons.selectors: the page's ids come first).
            models.Index(
                fields=["sort_name", "id"],
                include=["search_name", "home_site"],
                name="patron_sort_name",
            ),
            models.Index(
                fields=["home_site", "sort_name", "id"],
                include=["search_name"],
                name="patron_site_sort",
            ),
            models.Index(Lower("email"), name="patron_email_ci"),
            models.Index(BARCODE_MISSING, BARCODE_SORT, "id", name="patron_barcode_sort"),
            models.Index(EXPIRY_SORT, "sort_name", "id", name="patron_expiry_sort"),
            # Filters whose rare side would otherwise read every row.
            models.Index(fields=["source"], name="patron_source"),
            models.Index(
                fields=["purge_date"],
                condition=models.Q(purge_date__isnull=False),
                name="patron_purge_date",
            ),
            models.Index(
                fields=["sort_name", "id"],
                condition=models.Q(is_generic=True),
                name="patron_generic_sort",
            ),
        ]
        permissions = [
            ("edit_personal", "Can edit the Personal tab"),
            ("edit_contact", "Can edit the Contact tab"),
            ("edit_access", "Can edit the Access tab (group, password, site access)"),
            ("edit_notes", "Can edit notes"),
            ("edit_blocks", "Can edit blocks"),
            ("merge_patron", "Can merge patrons"),
            ("import_patrons", "Can import patrons"),
            ("export_patrons", "Can export patrons"),
            ("override_blocks", "Can override blocks"),
        ]

    def __str__(self):
        return self.display_name

    def unique_error_message(self, model_class, unique_check):
        """A taken barcode in the words of the forms, whichever check finds it first."""
        if tuple(unique_check) == ("barcode",):
            return ValidationError(BARCODE_TAKEN, code="unique")
        return super().unique_error_message(model_class, unique_check)

    def clean(self):
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email or "")
        if (
            self.security_group_id
            and preferences.email_required(self.security_group.level)
            and not self.email
        ):
            raise ValidationError({"email": email_required_message()})
        if self.security_group_id and self.home_site_id:
            self._check_home_site_in_group()
        if self.username and username_taken(self.username, exclude_pk=self.pk):
            # Said next to the field (the constraint alone would say it about the record).
            raise ValidationError({"username": USERNAME_TAKEN})

    def _check_home_site_in_group(self) -> None:
        """A group owned by a site is for patrons at that site and its branches: whoever may
        change the group can then see every member it reaches (security.policy)."""
        owner = self.security_group.owner_site
        if owner is not None and owner.pk not in self.home_site.ancestor_ids(include_self=True):
            message = HOME_SITE_OUTSIDE_GROUP.format(group=self.security_group.name, site=owner)
            raise ValidationError({"home_site": message})

    @property
    def is_expired(self) -> bool:
        return self.expiry_date is not None and self.expiry_date < timezone.localdate()

    @property
    def needs_home_site_access(self) -> bool:
        return preferences.needs_home_site_access(self.security_group.level)

    @property
    def display_name(self) -> str:
        first = self.preferred_first_name or self.first_name
        last = self.preferred_last_name or self.last_name
        return f"{first} {last}".strip()

    def get_full_name(self):
        return self.display_name

    def get_short_name(self):
        return self.preferred_first_name or self.first_name or self.last_name

    @property
    def level(self) -> int:
        return self.security_group.level

    @property
    def is_operator(self) -> bool:
        return self.level < Level.PATRON

    @property
    def can_sign_in(self) -> bool:
        return self.is_active and bool(self.username) and self.has_usable_password()

    @property
    def is_district_administrator(self) -> bool:
        return self.level == Level.DISTRICT_ADMINISTRATOR

    @property
    def is_staff(self) -> bool:
        """Django admin access: District Administrators only."""
        return self.is_active and self.is_district_administrator

    @property
    def is_superuser(self) -> bool:
        # Power comes from the security group and the policy, never from a flag.
        return False

    def has_perm(self, perm, obj=None):
        return _user_has_perm(self, perm, obj)

    def has_perms(self, perm_list, obj=None):
        return all(self.has_perm(perm, obj) for perm in perm_list)

    def has_module_perms(self, app_label):
        return _user_has_module_perms(self, app_label)
