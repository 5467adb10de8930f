"""Reads of sites, always starting from the policy's scope."""

from dataclasses import dataclass

from django.db.models import QuerySet

from libstaff.queries import count_per_row
from security import policy
from sites.models import Site


@dataclass(frozen=True)
class SiteRow:
    site: Site
    depth: int
    patron_count: int
    can_change: bool


def site_list(*, operator) -> list[SiteRow]:
    """The sites the operator may see, in tree order (each site followed by its branches),
    with the number of patrons whose home site it is. One query, whatever the number of
    sites; a site whose parent is out of scope starts a tree of its own."""
    sites = list(
        policy.scope(operator, "sites.view_site", Site)
        .annotate(patron_count=_patron_count())
        .order_by("code")
    )
    children: dict[int | None, list[Site]] = {}
    visible_ids = {site.pk for site in sites}
    for site in sites:
        parent_id = site.parent_id if site.parent_id in visible_ids else None
        children.setdefault(parent_id, []).append(site)
    rows: list[SiteRow] = []
    stack = [(site, 0) for site in reversed(children.get(None, []))]
    while stack:
        site, depth = stack.pop()
        rows.append(
            SiteRow(
                site=site,
                depth=depth,
                patron_count=site.patron_count,
                can_change=policy.can(operator, "sites.change_site", site),
            )
        )
        stack.extend((child, depth + 1) for child in reversed(children.get(site.pk, [])))
    return rows


def _patron_count():
    from patrons.models import Patron

    return count_per_row(Patron.objects.all(), "home_site")


def site_code_in_use(code: str, *, exclude: Site | None = None) -> bool:
    """Codes are unique whatever the case, across every site (in scope or not)."""
    same_code = Site.objects.filter(code__iexact=code.strip())
    if exclude is not None and exclude.pk is not None:
        same_code = same_code.exclude(pk=exclude.pk)
    return same_code.exists()


def site_parent_choices(*, operator, site: Site | None = None) -> QuerySet:
    """Sites that `site` (None: a new site) may be placed under: within the operator's
    scope for adding sites, never the site itself or one of its descendants. The current
    parent stays offered so that editing a site does not force moving it."""
    allowed = policy.scope(operator, "sites.add_site", Site)
    if site is None or site.pk is None:
        return allowed.order_by("code")
    excluded = policy.descendants(policy.site_tree(), [site.pk])
    choices = Site.objects.filter(pk__in=allowed.values("pk"))
    if site.parent_id is not None:
        choices = choices | Site.objects.filter(pk=site.parent_id)
    return choices.exclude(pk__in=excluded).order_by("code")
