from dataclasses import dataclass

from django.urls import reverse


@dataclass(frozen=True)
class NavEntry:
    label: str
    url_name: str
    permission: str | None  # None: every operator
    exact: bool = False  # active only on its own URL, not on the pages below it
    also: tuple[str, ...] = ()  # other pages of the same section (URL names)


# The staff navigation, in display order.
STAFF_NAVIGATION = [
    NavEntry("Dashboard", "home", None, exact=True),
    NavEntry("Patrons", "patrons:list", "patrons.view_patron"),
    NavEntry("Sites", "sites:list", "sites.view_site"),
    NavEntry(
        "Security", "security:groups", "security.view_securitygroup", also=("security:grants",)
    ),
    NavEntry("Log", "security:log", "security.view_operator_log"),
    NavEntry("Cash", "fines:cash", "fines.pay_fee"),
    NavEntry("Preferences", "preferences:edit", "security.manage_preferences"),
]


def navigation(request):
    """The staff navigation, filtered through the policy (user.has_perm, whose answers the
    policy caches on the request's user object). Anonymous users and patrons get none,
    without a query."""
    from security import two_factor

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_operator:
        return {"staff_navigation": []}
    if two_factor.is_owed(user):  # every section would send them back to the second step
        return {"staff_navigation": []}
    items = []
    for entry in STAFF_NAVIGATION:
        if entry.permission is None or user.has_perm(entry.permission):
            url = reverse(entry.url_name)
            active = request.path == url if entry.exact else _within(request.path, url, entry)
            items.append({"label": entry.label, "url": url, "active": active})
    return {"staff_navigation": items}


def _within(path: str, url: str, entry: NavEntry) -> bool:
    return path.startswith(url) or any(path.startswith(reverse(name)) for name in entry.also)


def working_site_picker(request):
    """Whether the header offers a choice of working site (no query: the policy's facts)."""
    from security import working_site

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_operator:
        return {"working_site_picker": False}
    return {"working_site_picker": working_site.has_choice(user)}
