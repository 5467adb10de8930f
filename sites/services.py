"""Operations that change sites. Each checks the policy first (so commands are checked
too), validates, saves, and records the acting operator."""

import pghistory
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from security import group_selectors, log, policy
from sites.models import Site
from sites.selectors import site_code_in_use

SITE_CODE_TAKEN = "Another site already uses this code (codes ignore upper and lower case)."
ROOT_SITE_REFUSED = "Only a District Administrator can create a site without a parent site."
MOVE_SPLITS_GROUPS = (
    "Patrons of this site belong to security groups of the site it would leave ({names}): "
    "give them other groups, or move the groups, first."
)
_LOGGED_FIELDS = ("code", "name", "kind", "parent")


@transaction.atomic
def site_create(
    *, actor, code: str, name: str, kind: str = Site.Kind.LIBRARY, parent: Site | None
) -> Site:
    """A new site under `parent`, which must lie within the actor's scope for adding
    sites; only a District Administrator creates a top-level site."""
    _require_may_place_under(actor, parent)
    site = Site(code=code, name=name, kind=kind, parent=parent, created_by=actor, updated_by=actor)
    site = _validate_and_save(actor, site)
    log.record(log.Kind.SITE_CREATED, operator=actor, obj=site, site=site)
    return site


@transaction.atomic
def site_update(*, actor, site: Site, code: str, name: str, kind: str, parent: Site | None) -> Site:
    """Keeping the current parent is always allowed (a Library Administrator may edit
    their own library although its parent lies outside their scope); moving a site
    needs the same right as creating one under the new parent."""
    site = Site.objects.select_for_update().get(pk=site.pk)
    policy.require(actor, "sites.change_site", site)
    new_parent_id = parent.pk if parent is not None else None
    if new_parent_id != site.parent_id:
        _require_may_place_under(actor, parent)
        split = group_selectors.groups_split_by_move(site, parent)
        if split:
            names = ", ".join(group.name for group in split)
            raise ValidationError({"parent": MOVE_SPLITS_GROUPS.format(names=names)})
    before = log.snapshot(site, _LOGGED_FIELDS)
    site.code, site.name, site.kind, site.parent = code, name, kind, parent
    site.updated_by = actor
    site = _validate_and_save(actor, site)
    details = log.changes(before, site)
    log.record(log.Kind.SITE_CHANGED, operator=actor, obj=site, site=site, details=details)
    return site


def _require_may_place_under(actor, parent: Site | None) -> None:
    if parent is not None:
        policy.require(actor, "sites.add_site", parent)
        return
    policy.require(actor, "sites.add_site")
    if policy.site_scope_ids(actor) is not None:  # None: every site, District Administrators
        raise PermissionDenied(ROOT_SITE_REFUSED)


def _validate_and_save(actor, site: Site) -> Site:
    site.code = (site.code or "").strip().upper()
    if site.code and site_code_in_use(site.code, exclude=site):
        raise ValidationError({"code": SITE_CODE_TAKEN})
    with pghistory.context(user=actor.pk):
        site.full_clean()
        site.save()
    return site
