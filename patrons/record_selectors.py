"""Reads for the patron record, registration and deletion: the header's badges, the
duplicate check, the next barcode, and the choices the Access tab offers. Every list an
operator sees starts from security.policy."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet
from django.db.models.functions import Lower

from patrons import deletion, system_blocks
from patrons.block_selectors import visible_active_blocks
from patrons.models import Patron, PatronEmail
from patrons.services import LAST_DISTRICT_ADMIN, PROTECTED_PATRON
from patrons.services.patron import is_last_district_admin
from security import policy, preferences
from security.models import BARCODE_SERIAL_DIGITS, Grant, SecurityGroup
from sites.models import Site

# Barcodes offered at registration: the preferences' prefix, then a 9-digit serial from the
# sequence patrons_barcode_seq (migration 0006); the demo data uses the prefix 29999.
_SKIP_AHEAD_ATTEMPTS = 3
DUPLICATES_SHOWN = 5


@dataclass(frozen=True)
class HeaderBadges:
    expired: bool
    blocked: bool
    email_undeliverable: bool
    # Balance owed joins when the fines app lands; None means "not known yet".
    balance_owed: Decimal | None = None


def patron_header_badges(patron: Patron, *, operator) -> HeaderBadges:
    """The status badges of the record header, in one query whatever the sub-records (plus
    the system block providers'). Blocked: an active block the operator sees (its owner
    site within their scope), or a system block."""
    flags = (
        Patron.objects.filter(pk=patron.pk)
        .annotate(
            blocked=Exists(visible_active_blocks(operator).filter(patron=OuterRef("pk"))),
            undeliverable=Exists(
                PatronEmail.objects.filter(patron=OuterRef("pk"), is_undeliverable=True)
            ),
        )
        .values("blocked", "undeliverable")
        .first()
    ) or {"blocked": False, "undeliverable": False}
    return HeaderBadges(
        expired=patron.is_expired,
        blocked=flags["blocked"] or bool(system_blocks.blocks_of(patron)),
        email_undeliverable=flags["undeliverable"],
    )


def patron_duplicates(
    *, operator: Patron, first_name: str, last_name: str, birth_date: date | None
) -> list[Patron]:
    """Patrons the operator may see with the same first name, last name and birth date
    (case-insensitive). Patrons outside their scope are never revealed."""
    if not (last_name and birth_date):
        return []
    return list(
        Patron.objects.visible_to(operator)
        .alias(first_lower=Lower("first_name"), last_lower=Lower("last_name"))
        .filter(
            birth_date=birth_date,
            last_lower=last_name.strip().lower(),
            first_lower=(first_name or "").strip().lower(),
        )
        .select_related("home_site")
        .order_by("pk")[:DUPLICATES_SHOWN]
    )


def barcode_in_use(barcode: str, *, exclude: Patron | None = None) -> bool:
    taken = Patron.objects.filter(barcode=barcode)
    if exclude is not None and exclude.pk is not None:
        taken = taken.exclude(pk=exclude.pk)
    return taken.exists()


def next_barcode() -> str:
    """The barcode to offer a new patron. When the counter's value is already in use
    (entered by hand, imported), the counter skips past the highest barcode of its form."""
    candidate = ""
    for _ in range(_SKIP_AHEAD_ATTEMPTS):
        candidate = preferences.barcode_for(_sql_value("SELECT nextval('patrons_barcode_seq')"))
        if not barcode_in_use(candidate):
            return candidate
        _skip_past(_highest_serial_in_use())
    return candidate  # still taken after skipping: the form's uniqueness check says so


def peek_next_barcode_serial() -> int:
    """The serial the next registration will be offered (the counter is not advanced)."""
    return _sql_value(
        "SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END "
        "FROM patrons_barcode_seq"
    )


def set_next_barcode_serial(serial: int) -> None:
    _sql_value("SELECT setval('patrons_barcode_seq', %s, false)", [serial])


def _highest_serial_in_use() -> int:
    """Highest serial among barcodes of our form, read backwards on the barcode index."""
    prefix = preferences.current().barcode_prefix
    highest = (
        Patron.objects.filter(
            barcode__gte=prefix + "0" * BARCODE_SERIAL_DIGITS,
            barcode__lte=prefix + "9" * BARCODE_SERIAL_DIGITS,
            barcode__regex=rf"^{prefix}[0-9]{{{BARCODE_SERIAL_DIGITS}}}$",
        )
        .order_by("-barcode")
        .values_list("barcode", flat=True)
        .first()
    )
    return int(highest[len(prefix) :]) if highest else 0


def _skip_past(serial: int) -> None:
    _sql_value(
        "SELECT setval('patrons_barcode_seq', GREATEST(%s, last_value)) FROM patrons_barcode_seq",
        [serial],
    )


def _sql_value(sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def patron_delete_blockers(patron: Patron) -> list[deletion.Refusal]:
    """Why the patron cannot be deleted (empty: they can): our own rules, then what other
    apps registered (patrons.deletion: the fines app refuses a balance). The service checks
    again under a lock; this lets the confirmation page say so before the operator tries."""
    reasons = []
    if patron.is_protected:
        reasons.append(deletion.Refusal(PROTECTED_PATRON))
    if is_last_district_admin(patron):
        reasons.append(deletion.Refusal(LAST_DISTRICT_ADMIN))
    return reasons + deletion.refusals(patron)


# --- what the Access tab and registration offer ------------------------------------------


def assignable_groups(*, operator: Patron, current: SecurityGroup | None = None) -> list:
    """Groups the operator may give a patron (rule 4), plus the patron's current one."""
    groups = policy.scope(operator, policy.ASSIGN_GROUP, SecurityGroup)
    if current is not None:
        groups = groups | SecurityGroup.objects.filter(pk=current.pk)
    return list(groups.distinct().order_by("level", "name"))


def grantable_sites(*, operator: Patron) -> QuerySet:
    return policy.scope(operator, policy.GRANT_SITE_ACCESS, Site).order_by("code")


def registration_sites(*, operator: Patron) -> QuerySet:
    return policy.scope(operator, "patrons.add_patron", Site).order_by("code")


def patron_site_access(patron: Patron) -> list[Site]:
    return list(patron.site_access.order_by("code"))


def patron_grants(patron: Patron) -> list[Grant]:
    """The explicit permissions this patron holds as an operator (given and taken back on
    the security pages; reviewed here when their group changes)."""
    return list(
        Grant.objects.filter(operator=patron)
        .select_related("permission", "site", "granted_by")
        .order_by("site__code", "permission__name")
    )


def patron_grant_ids(patron: Patron, *, among: set[int]) -> set[int]:
    """Which of the grants `among` the patron still holds."""
    return set(Grant.objects.filter(operator=patron, pk__in=among).values_list("pk", flat=True))
