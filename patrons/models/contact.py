"""A patron's typed emails, addresses and phones (one primary or preferred of each), and
contacts such as a parent or guardian who receive notices for them."""

from django.db import models

from libstaff.stamps import Stamped, track_history


class _PatronPart(Stamped):
    patron = models.ForeignKey("patrons.Patron", on_delete=models.CASCADE)

    class Meta:
        abstract = True


@track_history()
class PatronEmail(_PatronPart):
    class Kind(models.TextChoices):
        PERSONAL = "personal", "Personal"
        SCHOOL = "school", "School"
        WORK = "work", "Work"
        ALTERNATIVE = "alternative", "Alternative"

    patron = models.ForeignKey("patrons.Patron", on_delete=models.CASCADE, related_name="emails")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.PERSONAL)
    address = models.EmailField()
    is_primary = models.BooleanField("primary", default=False)
    is_undeliverable = models.BooleanField(
        "undeliverable", default=False, help_text="Mail to this address bounced."
    )

    class Meta:
        ordering = ["-is_primary", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["patron"],
                condition=models.Q(is_primary=True),
                name="patronemail_one_primary",
            ),
            models.UniqueConstraint(
                fields=["patron", "address"], name="patronemail_unique_per_patron"
            ),
        ]

    def __str__(self):
        return self.address


@track_history()
class PatronAddress(_PatronPart):
    class Kind(models.TextChoices):
        HOME = "home", "Home"
        SCHOOL = "school", "School"
        WORK = "work", "Work"
        ALTERNATIVE = "alternative", "Alternative"

    patron = models.ForeignKey("patrons.Patron", on_delete=models.CASCADE, related_name="addresses")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.HOME)
    street = models.CharField(max_length=200)
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField("state or province", max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=100, blank=True)
    is_preferred = models.BooleanField("preferred", default=False)

    class Meta:
        ordering = ["-is_preferred", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["patron"],
                condition=models.Q(is_preferred=True),
                name="patronaddress_one_preferred",
            ),
        ]

    def __str__(self):
        return ", ".join(filter(None, [self.street, self.postal_code, self.city]))


@track_history()
class PatronPhone(_PatronPart):
    class Kind(models.TextChoices):
        HOME = "home", "Home"
        MOBILE = "mobile", "Mobile"
        WORK = "work", "Work"

    patron = models.ForeignKey("patrons.Patron", on_delete=models.CASCADE, related_name="phones")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.MOBILE)
    number = models.CharField(max_length=30)
    is_preferred = models.BooleanField("preferred", default=False)

    class Meta:
        ordering = ["-is_preferred", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["patron"],
                condition=models.Q(is_preferred=True),
                name="patronphone_one_preferred",
            ),
        ]

    def __str__(self):
        return self.number


@track_history()
class Guardian(_PatronPart):
    """A parent, guardian or other contact; students' notices can go to them."""

    patron = models.ForeignKey("patrons.Patron", on_delete=models.CASCADE, related_name="guardians")
    name = models.CharField(max_length=160)
    relationship = models.CharField(max_length=60, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=30, blank=True)
    receives_notices = models.BooleanField(default=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self):
        return self.name
