import factory
from django.contrib.auth import get_user_model

from security.models import Level, SecurityGroup
from sites.models import Site

DEFAULT_PASSWORD = "Library2024"


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"S{n:03d}")
    name = factory.LazyAttribute(lambda site: f"Site {site.code}")
    kind = Site.Kind.LIBRARY


class SecurityGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SecurityGroup

    name = factory.Sequence(lambda n: f"Group {n}")
    level = Level.LIBRARY_STAFF


def group_at(level: int) -> SecurityGroup:
    """The default group of a level (from the data migration)."""
    return SecurityGroup.objects.filter(level=level).order_by("pk").first()


class PatronFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    barcode = factory.Sequence(lambda n: f"P{n:07d}")
    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda p: f"{p.username or p.barcode}@example.org".lower())
    home_site = factory.SubFactory(SiteFactory)
    security_group = factory.LazyFunction(lambda: group_at(Level.PATRON))
    password = factory.django.Password(DEFAULT_PASSWORD)

    @factory.post_generation
    def site_access(self, create, extracted, **kwargs):
        """Operators get their home site in their access (rule 6) unless sites are given."""
        if not create:
            return
        if extracted is not None:
            self.site_access.set(extracted)
        elif self.security_group.level <= Level.LIBRARY_AIDE:
            self.site_access.add(self.home_site)


class OperatorFactory(PatronFactory):
    """A patron with a security group below level 5; pass `level=`."""

    class Params:
        level = Level.LIBRARIAN

    security_group = factory.LazyAttribute(lambda p: group_at(p.level))
