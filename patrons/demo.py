"""Demo data: a district, four schools, one operator per security level, and any number
of patrons. Used by `manage.py seed_demo` and by the benchmarks.

Everything is idempotent except the patrons, which are always added: re-running adds
more patrons with fresh barcodes. Patrons are loaded with PostgreSQL COPY in chunks of
their own transaction; the history triggers stay on, so every seeded patron has its
insert event like any other.
"""

import json
import random
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import pghistory
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from patrons.models import Patron, PatronType
from patrons.services import patron_create
from security.defaults import DEFAULT_GROUPS
from security.models import Level, SecurityGroup
from sites.models import Site

DISTRICT_CODE, DISTRICT_NAME = "DIST", "Demo District"
SCHOOLS = {
    "AMS": "Adams Middle School",
    "COMP": "COMPanion CC Demo",
    "JES": "Jefferson Elementary School",
    "WHS": "Washington High School",
}
OPERATORS_HOME = "AMS"
DEMO_PASSWORD = "Demo2024!"  # noqa: S105 (documented in the README)
NO_DISTRICT_ADMINISTRATOR = "No active District Administrator exists to create the demo accounts."


@dataclass(frozen=True)
class DemoAccount:
    username: str
    level: Level
    first_name: str
    last_name: str
    password: str = DEMO_PASSWORD

    @property
    def email(self) -> str:
        return f"{self.username}@example.org"


DEMO_ACCOUNTS = (
    DemoAccount("demo-district", Level.DISTRICT_ADMINISTRATOR, "Dana", "Whitfield"),
    DemoAccount("demo-libadmin", Level.LIBRARY_ADMINISTRATOR, "Luis", "Fernández"),
    DemoAccount("demo-librarian", Level.LIBRARIAN, "Zoë", "Okafor"),
    DemoAccount("demo-staff", Level.LIBRARY_STAFF, "Sam", "Nguyen"),
    DemoAccount("demo-aide", Level.LIBRARY_AIDE, "Amélie", "Dubois"),
    DemoAccount("demo-patron", Level.PATRON, "Jonas", "Müller"),
)

PATRON_TYPES = {"STU": "Student", "TCH": "Teacher", "STF": "Staff", "COM": "Community"}
STAFF_TYPES = {"TCH", "STF"}


# --- sites, patron types and operators ------------------------------------------------


def seed_sites() -> tuple[Site, dict[str, Site]]:
    """The root district (the existing one if any) and the four demo schools under it.
    Schools that already exist (by code) are left as they are."""
    roots = Site.objects.filter(parent=None, kind=Site.Kind.DISTRICT).order_by("pk")
    district = roots.first() or _site(
        DISTRICT_CODE, DISTRICT_NAME, kind=Site.Kind.DISTRICT, parent=None
    )
    schools = {code: _site(code, name, parent=district) for code, name in SCHOOLS.items()}
    return district, schools


def _site(code: str, name: str, *, parent: Site | None, kind=Site.Kind.LIBRARY) -> Site:
    site = Site.objects.filter(code__iexact=code).first()
    if site is None:
        site = Site(code=code, name=name, kind=kind, parent=parent)
        site.full_clean()
        site.save()
    return site


def seed_patron_types() -> list[PatronType]:
    return [
        PatronType.objects.get_or_create(code=code, defaults={"name": name})[0]
        for code, name in PATRON_TYPES.items()
    ]


def demo_group(level: int) -> SecurityGroup:
    """The default group of a level (by its default name), else the first at that level."""
    default_name = next(name for name, lvl, *_ in DEFAULT_GROUPS if lvl == level)
    group = SecurityGroup.objects.filter(name=default_name, level=level).first()
    group = group or SecurityGroup.objects.filter(level=level).order_by("pk").first()
    if group is None:
        raise ImproperlyConfigured(f"No security group at level {level}: run migrate first.")
    return group


@dataclass(frozen=True)
class SeededAccount:
    account: DemoAccount
    patron: Patron
    created: bool


def seed_operators(district: Site, schools: dict[str, Site]) -> list[SeededAccount]:
    """One account per level. Existing accounts (by username) are kept untouched.

    They are registered through patron_create by a District Administrator, so the rules
    apply (group assignment, passwords, emails, home site access). On a database without
    any District Administrator, demo-district is created first as the setup page would.
    """
    seeded, actor = [], _district_administrator()
    for account in DEMO_ACCOUNTS:
        existing = Patron.objects.filter(username__iexact=account.username).first()
        if existing is not None:
            seeded.append(SeededAccount(account, existing, created=False))
            continue
        home = (
            district if account.level == Level.DISTRICT_ADMINISTRATOR else schools[OPERATORS_HOME]
        )
        if actor is None:
            actor = _bootstrap_district_administrator(account, district)
            patron = actor
        else:
            patron = _register(actor, account, home)
        seeded.append(SeededAccount(account, patron, created=True))
    return seeded


def _district_administrator() -> Patron | None:
    admins = Patron.objects.active_district_administrators().select_related("security_group")
    return admins.filter(username="demo-district").first() or admins.order_by("pk").first()


def _register(actor: Patron, account: DemoAccount, home: Site) -> Patron:
    return patron_create(
        actor=actor,
        home_site=home,
        last_name=account.last_name,
        first_name=account.first_name,
        username=account.username,
        email=account.email,
        security_group=demo_group(account.level),
        password=account.password,
    )


@transaction.atomic
def _bootstrap_district_administrator(account: DemoAccount, district: Site) -> Patron:
    if account.level != Level.DISTRICT_ADMINISTRATOR:
        raise ImproperlyConfigured(NO_DISTRICT_ADMINISTRATOR)
    admin = Patron(
        username=account.username,
        email=account.email,
        first_name=account.first_name,
        last_name=account.last_name,
        home_site=district,
        security_group=demo_group(account.level),
    )
    validate_password(account.password, admin)
    admin.set_password(account.password)
    admin.full_clean()
    admin.save()
    admin.site_access.add(district)
    return admin


# --- patrons ----------------------------------------------------------------------------

# fmt: off
FIRST_NAMES = (
    "Aaliyah", "Aarav", "Alexander", "Amara", "Amelia", "Ana", "Ángel", "Anaïs", "Ava",
    "Benjamin", "Björn", "Camila", "Chloé", "Daniel", "Diego", "Dmitri", "Elijah", "Emma",
    "Ethan", "Evelyn", "Fatima", "François", "Grace", "Harper", "Henry", "Hiroshi", "Inés",
    "Isabella", "Jacob", "James", "Jackson", "José", "Jürgen", "Kwame", "Leo", "Liam", "Logan",
    "Lucas", "Lucía", "Łukasz", "Maëlle", "Malik", "Mason", "Mateo", "Mei", "Mia", "Nia",
    "Noah", "Noémie", "Olivia", "Oliver", "Omar", "Priya", "Renée", "Ruby", "Santiago",
    "Sebastian", "Siobhán", "Sofía", "Sophia", "Søren", "Valentina", "Wei", "William", "Yuki",
    "Zoë", "Zoltán", "Katherine", "Elizabeth", "Nicholas", "Matthew", "Samantha", "Christopher",
    "Jennifer"
)
LAST_NAMES = (
    "Adams", "Allen", "Andersen", "Anderson", "Baker", "Bergström", "Brown", "Campbell",
    "Carter", "Chen", "Clark", "Cohen", "Davis", "Dubois", "Ferreira", "Flores", "García",
    "Gonçalves", "González", "Green", "Haddad", "Hall", "Harris", "Hernández", "Hill", "Ibáñez",
    "Jackson", "Johnson", "Jones", "Kim", "King", "Kowalski", "Lee", "Lefèvre", "Lewis",
    "López", "Martin", "Martínez", "Mensah", "Miller", "Mitchell", "Moore", "Müller", "Nelson",
    "Nguyen", "Núñez", "O'Brien", "Okafor", "Öztürk", "Patel", "Peña", "Pérez", "Ramírez",
    "Rivera", "Roberts", "Robinson", "Rodríguez", "Rossi", "Sánchez", "Schröder", "Scott",
    "Smith", "Taylor", "Thomas", "Thompson", "Torres", "Walker", "Wang", "White", "Williams",
    "Wilson", "Wright", "Young"
)
# fmt: on
NICKNAMES = {
    "Alexander": "Alex",
    "Benjamin": "Ben",
    "Christopher": "Chris",
    "Daniel": "Dan",
    "Elizabeth": "Liz",
    "Isabella": "Bella",
    "Jacob": "Jake",
    "James": "Jim",
    "Jennifer": "Jen",
    "Katherine": "Kate",
    "Matthew": "Matt",
    "Nicholas": "Nick",
    "Samantha": "Sam",
    "Sebastian": "Seb",
    "William": "Will",
    "José": "Pepe",
    "Valentina": "Vale",
    "Santiago": "Santi",
}
# Per school: share of patrons, and the student ages (COMP is a community college).
SCHOOL_PROFILE = {
    "AMS": (25, 11, 14), "COMP": (10, 18, 45), "JES": (30, 5, 11), "WHS": (35, 14, 18),
}  # fmt: skip
STATUSES = (
    [Patron.Status.ACTIVE] * 88
    + [Patron.Status.INACTIVE] * 6
    + [Patron.Status.TRANSFERRED] * 2
    + [Patron.Status.CARD_LOST] * 2
    + [Patron.Status.SUSPENDED] * 1
    + [Patron.Status.OTHER] * 1
)
LANGUAGES = ["en"] * 85 + ["es"] * 10 + ["fr"] * 3 + ["de"] * 2

# 14-digit barcodes: the demo prefix, then a 9-digit serial.
BARCODE_PREFIX = "29999"
BARCODE_PATTERN = rf"^{BARCODE_PREFIX}[0-9]{{9}}$"
CHUNK_SIZE = 50_000
COPY_COLUMNS = (
    "password", "created_at", "updated_at", "title", "first_name", "middle_name",
    "last_name", "preferred_first_name", "preferred_last_name", "birth_date", "gender",
    "barcode", "admin_system_id", "patron_type_id", "cohort", "form_class", "home_site_id",
    "status", "expiry_date", "purge_date", "is_generic", "is_staff_member", "is_protected",
    "photo", "email", "communication_channel", "language", "username", "security_group_id",
    "must_change_password", "version", "created_by_id", "updated_by_id",
)  # fmt: skip
NULL = r"\N"
SEED_LOCK = 7_400_230_001  # pg_advisory_xact_lock key: one seeding at a time


@dataclass(frozen=True)
class SeedContext:
    """What every seeded patron refers to."""

    schools: dict[str, Site]
    group: SecurityGroup
    patron_types: dict[str, PatronType]
    actor: Patron | None
    today: date


@dataclass(frozen=True)
class SeedResult:
    count: int
    first_barcode: str | None
    last_barcode: str | None
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


def seed_patrons(count: int, context: SeedContext, *, chunk_size: int = CHUNK_SIZE) -> SeedResult:
    """Add `count` patrons (group Patron, no username for most, unusable passwords)."""
    started, first, last = time.perf_counter(), None, None
    with pghistory.context(command="seed_demo", user=context.actor and context.actor.pk) as ctx:
        for offset in range(0, count, chunk_size):
            barcodes = _load_chunk(min(chunk_size, count - offset), context, ctx)
            first, last = first or barcodes[0], barcodes[1]
    if count:
        # VACUUM marks the new pages all-visible, so that name searches can answer from
        # the name indexes alone at once (it cannot run inside a transaction: tests).
        analyze = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
        with connection.cursor() as cursor:
            cursor.execute(f"{analyze} patrons_patron")
            cursor.execute(f"{analyze} patrons_patronevent")
    return SeedResult(count, first, last, time.perf_counter() - started)


@transaction.atomic
def _load_chunk(size: int, context: SeedContext, history) -> tuple[str, str]:
    """One chunk, in a transaction of its own, its foreign keys checked as rows arrive.

    Left deferred, the checks queue up while the history trigger runs one INSERT per row,
    and the load turns quadratic (50,000 rows in one COPY: 46 s instead of 5 s)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEED_LOCK])
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "SELECT set_config('pghistory.context_id', %s, true), "
            "set_config('pghistory.context_metadata', %s, true)",
            [str(history.id), json.dumps(history.metadata, cls=DjangoJSONEncoder)],
        )
        serial = _next_serial(cursor)
        rows = patron_rows(random.Random(serial), serial, size, context)
        with cursor.copy(f"COPY patrons_patron ({', '.join(COPY_COLUMNS)}) FROM STDIN") as copy:
            for batch in _batched(rows, 5_000):
                copy.write("".join(batch))
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    return _barcode(serial), _barcode(serial + size - 1)


def _next_serial(cursor) -> int:
    cursor.execute(
        "SELECT barcode FROM patrons_patron WHERE barcode ~ %s ORDER BY barcode DESC LIMIT 1",
        [BARCODE_PATTERN],
    )
    row = cursor.fetchone()
    return int(row[0][len(BARCODE_PREFIX) :]) + 1 if row else 1


def _barcode(serial: int) -> str:
    return f"{BARCODE_PREFIX}{serial:09d}"


def _batched(lines: Iterator[str], size: int) -> Iterator[list[str]]:
    batch = []
    for line in lines:
        batch.append(line)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def patron_rows(rng: random.Random, serial: int, count: int, context: SeedContext):
    """COPY text lines (COPY_COLUMNS) for `count` patrons from barcode serial `serial` on.
    The names hold no tab, newline or backslash, so nothing needs escaping."""
    now = timezone.now().isoformat()
    actor = str(context.actor.pk) if context.actor else NULL
    head = f"!\t{now}\t{now}\t"
    tail = f"\t{context.group.pk}\tf\t1\t{actor}\t{actor}\n"
    sites = {code: str(site.pk) for code, site in context.schools.items()}
    codes = list(SCHOOL_PROFILE)
    weights = [SCHOOL_PROFILE[code][0] for code in codes]
    types = {code: str(t.pk) for code, t in context.patron_types.items()}
    for number in range(serial, serial + count):
        school = rng.choices(codes, weights)[0]
        person = _person(rng, school, context.today)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        status, expiry, purge = _status(rng, context.today)
        email = _email(first, last, number) if rng.random() < 0.4 else ""
        fields = (
            "",  # title
            first,
            rng.choice(FIRST_NAMES) if rng.random() < 0.3 else "",
            last,
            NICKNAMES.get(first, "") if rng.random() < 0.5 else "",
            rng.choice(LAST_NAMES) if rng.random() < 0.01 else "",
            person.birth_date.isoformat(),
            "",  # gender
            _barcode(number),
            f"SIS{number:08d}" if rng.random() < 0.8 else "",
            types[person.type_code] if rng.random() < 0.95 else NULL,
            person.cohort,
            person.form_class,
            sites[school],
            status,
            expiry,
            purge,
            "f",  # is_generic
            "t" if person.type_code in STAFF_TYPES else "f",
            "f",  # is_protected
            "",  # photo
            email,
            "email" if email and rng.random() < 0.7 else "mail",
            rng.choice(LANGUAGES),
            _ascii(f"{first}.{last}{number}").lower() if rng.random() < 0.02 else NULL,
        )
        yield head + "\t".join(fields) + tail


@dataclass(frozen=True)
class _Person:
    birth_date: date
    type_code: str
    cohort: str
    form_class: str


def _person(rng: random.Random, school: str, today: date) -> _Person:
    _, youngest, oldest = SCHOOL_PROFILE[school]
    if rng.random() < 0.9:
        age = rng.randint(youngest, oldest)
        grade = max(0, min(12, age - 5))
        return _Person(
            _birth_date(rng, today, age),
            "STU",
            str(today.year + 12 - grade) if school != "COMP" else "",
            f"{grade or 'K'}{rng.choice('ABCD')}" if school != "COMP" else "",
        )
    age = rng.randint(23, 68)
    return _Person(_birth_date(rng, today, age), rng.choice(["TCH", "STF", "COM"]), "", "")


def _birth_date(rng: random.Random, today: date, age: int) -> date:
    return today - timedelta(days=365 * age + rng.randint(0, 364))


def _status(rng: random.Random, today: date) -> tuple[str, str, str]:
    """Status, expiry date and purge date; some active cards have expired."""
    status = rng.choice(STATUSES)
    if status == Patron.Status.ACTIVE:
        days = rng.randint(-200, 1100) if rng.random() < 0.08 else rng.randint(30, 1100)
        return status, (today + timedelta(days=days)).isoformat(), NULL
    expired = today - timedelta(days=rng.randint(1, 700))
    purge = (expired + timedelta(days=730)).isoformat() if rng.random() < 0.5 else NULL
    return status, expired.isoformat(), purge


_NOT_DECOMPOSED = str.maketrans({"Ł": "L", "ł": "l", "Ø": "O", "ø": "o", "ß": "ss"})


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.translate(_NOT_DECOMPOSED))
    folded = folded.encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded if ch.isalnum() or ch == ".")


def _email(first: str, last: str, number: int) -> str:
    return f"{_ascii(first)}.{_ascii(last)}{number}@example.org".lower()


def seed_context(schools: dict[str, Site], actor: Patron | None) -> SeedContext:
    return SeedContext(
        schools=schools,
        group=demo_group(Level.PATRON),
        patron_types={t.code: t for t in seed_patron_types()},
        actor=actor,
        today=timezone.localdate(),
    )


def operators_table(accounts: Sequence[SeededAccount]) -> str:
    """The demo accounts as a Markdown table (the README quotes it)."""
    lines = [
        "| Level | Security group | Username | Password | Home site |",
        "|---|---|---|---|---|",
    ]
    for seeded in accounts:
        patron, account = seeded.patron, seeded.account
        password = account.password if seeded.created else f"{account.password} (if unchanged)"
        lines.append(
            f"| {patron.security_group.level} | {patron.security_group.name} | "
            f"{patron.username} | {password} | {patron.home_site.code} |"
        )
    return "\n".join(lines)
