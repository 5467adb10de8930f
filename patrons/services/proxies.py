"""Proxy links (Alma's "Proxy For"): who may act for whom. Made and removed by operators
who may edit the Personal tab of both patrons; never for a generic (shared) account."""

import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from libstaff.queries import violated_constraint
from patrons.models import Patron, ProxyLink
from patrons.services.patron import _acting
from security import log, policy

__all__ = [
    "PROXY_EXISTS",
    "PROXY_GENERIC",
    "PROXY_IN_THE_PAST",
    "PROXY_ONESELF",
    "proxy_link_add",
    "proxy_link_remove",
]

EDIT = "patrons.edit_personal"
PROXY_EXISTS = "{proxy} may act for {patron} already."
PROXY_UNIQUE = "proxylink_unique"
PROXY_ONESELF = "A patron cannot act for themselves."
PROXY_GENERIC = "A generic (shared) account neither acts for anyone nor has proxies."
PROXY_IN_THE_PAST = "Choose today or a later date, or leave it empty for no end."


@transaction.atomic
def proxy_link_add(
    *, actor: Patron, proxy: Patron, patron: Patron, expires_on: datetime.date | None = None
) -> ProxyLink:
    """`proxy` may act for `patron`: the actor may edit both records."""
    policy.require(actor, EDIT, proxy)
    policy.require(actor, EDIT, patron)
    if proxy.pk == patron.pk:
        raise ValidationError({"barcode": PROXY_ONESELF})
    if proxy.is_generic or patron.is_generic:
        raise ValidationError({"barcode": PROXY_GENERIC})
    if expires_on is not None and expires_on < timezone.localdate():
        raise ValidationError({"expires_on": PROXY_IN_THE_PAST})
    link = ProxyLink(
        proxy=proxy, patron=patron, expires_on=expires_on, created_by=actor, updated_by=actor
    )
    try:
        with transaction.atomic(), _acting(actor):
            link.save()
    except IntegrityError as error:
        if violated_constraint(error) != PROXY_UNIQUE:
            raise
        message = PROXY_EXISTS.format(proxy=proxy.display_name, patron=patron.display_name)
        raise ValidationError({"barcode": message}) from error
    for side in (proxy, patron):
        _log(actor, side, link, "proxy_added")
    return link


@transaction.atomic
def proxy_link_remove(*, actor: Patron, record: Patron, link_id: int) -> ProxyLink:
    """Remove a link of `record` (either side). Raises ProxyLink.DoesNotExist for an id
    that is not one of its links, PermissionDenied when the actor may not edit both."""
    link = _link_of(record, link_id)
    policy.require(actor, EDIT, link.proxy)
    policy.require(actor, EDIT, link.patron)
    for side in (link.proxy, link.patron):
        _log(actor, side, link, "proxy_removed")
    with _acting(actor):
        link.delete()
    return link


def _link_of(record: Patron, link_id: int) -> ProxyLink:
    return (
        ProxyLink.objects.select_for_update(of=("self",))
        .select_related("proxy__security_group", "patron__security_group")
        .filter(Q(proxy=record) | Q(patron=record))
        .get(pk=link_id)
    )


def _log(actor, side: Patron, link: ProxyLink, what: str) -> None:
    log.record(
        log.Kind.PATRON_CHANGED, operator=actor, patron=side, obj=link, details={what: str(link)}
    )
