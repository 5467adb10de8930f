"""Generic accounts (Infiniti): a record marked generic is a shared search account, signed
in to at a desk or a catalogue computer. It is restricted to its sites, so it must have site
access, and it is nobody's staff account, so it never holds a staff group (level below 5)
nor acts for anyone or has proxies.

The services that change the flag, the group or the site access call check_generic after
writing, inside their transaction: the site access is read from the database as written,
sites the actor could not see included, and a refusal undoes the whole save.
"""

from django.core.exceptions import ValidationError

from patrons.models import Patron, ProxyLink
from security.models import Level

__all__ = [
    "GENERIC_HAS_PROXIES",
    "GENERIC_IS_STAFF",
    "GENERIC_KEEPS_SITE_ACCESS",
    "GENERIC_NEEDS_SITE_ACCESS",
    "GENERIC_NO_STAFF_GROUP",
    "check_generic",
]

# Said on the Personal tab, when the record is marked generic.
GENERIC_IS_STAFF = (
    "An account with a staff security group cannot be generic: a generic account is a shared "
    "search account in a Patron (level 5) group. Change the group on the Access tab first."
)
GENERIC_NEEDS_SITE_ACCESS = (
    "A generic account must have site access: give it at least one site on the Access tab "
    "first, then mark it generic."
)
# Said on the Access tab (or by any service changing the group or the sites).
GENERIC_NO_STAFF_GROUP = (
    "A generic account cannot be given a staff security group (level below 5). To make it a "
    "staff account, clear “Generic account” on the Personal tab first."
)
GENERIC_HAS_PROXIES = (
    "A generic account has no proxies: remove its links on the Proxies tab first, then mark "
    "it generic."
)
GENERIC_KEEPS_SITE_ACCESS = "A generic account must keep site access: choose at least one site."


def check_generic(patron: Patron, *, marking: bool) -> None:
    """Refuse a generic record with a staff group or without site access. `marking`: the
    save marks the record generic (the refusal is about the flag); otherwise it changes the
    group or the sites of a generic record (the refusal is about those)."""
    if not patron.is_generic:
        return
    staff_group = patron.security_group.level < Level.PATRON
    no_site_access = not patron.site_access.exists()
    errors: dict[str, list[str]] = {}
    if marking:
        has_proxies = (
            ProxyLink.objects.filter(proxy=patron).exists()
            or ProxyLink.objects.filter(patron=patron).exists()
        )
        refusals = [
            (staff_group, GENERIC_IS_STAFF),
            (no_site_access, GENERIC_NEEDS_SITE_ACCESS),
            (has_proxies, GENERIC_HAS_PROXIES),
        ]
        if messages := [message for refused, message in refusals if refused]:
            errors["is_generic"] = messages
    else:
        if staff_group:
            errors["security_group"] = [GENERIC_NO_STAFF_GROUP]
        if no_site_access:
            errors["site_access"] = [GENERIC_KEEPS_SITE_ACCESS]
    if errors:
        raise ValidationError(errors)
