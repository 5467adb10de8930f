"""The operator's working site: an operator with access to several sites picks one in the
header; it becomes the default home site of the patrons they register (and the owner site
of notes, blocks and fees as those land). It lives in the session, so the web tier keeps
no state of its own; every use checks it against the operator's current access."""

from django.db.models import QuerySet

from security import policy
from sites.models import Site

SESSION_ID = "working_site_id"
SESSION_CODE = "working_site_code"
WORKS_WITH = "patrons.view_patron"  # the permission whose sites one may work at


def choices(operator) -> QuerySet:
    """The sites an operator may work at: where they may view patrons (their access,
    branches included)."""
    return policy.scope(operator, WORKS_WITH, Site).order_by("code")


def has_choice(operator) -> bool:
    """Several sites to choose from (no query: the policy's cached facts)."""
    site_ids = policy.site_scope_ids(operator)
    return site_ids is None or len(site_ids) > 1


def site_id(request) -> int | None:
    """The chosen site's id, unchecked: callers offer it only among sites in scope."""
    value = request.session.get(SESSION_ID)
    return value if isinstance(value, int) else None


def remember(request, site: Site) -> None:
    request.session[SESSION_ID] = site.pk
    request.session[SESSION_CODE] = site.code


def on_login(sender, request, user, **kwargs) -> None:
    """Operators start at their home site when it is within their access."""
    if request is not None and policy.can(user, WORKS_WITH, user.home_site):
        remember(request, user.home_site)
