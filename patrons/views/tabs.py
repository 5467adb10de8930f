"""The tabs of a patron record, in the order they are shown (Alt+1..9 follow it)."""

from patrons.views import access, contact, personal
from patrons.views.record import Tab

TABS = [
    Tab(
        "personal",
        "Personal",
        "patrons/tabs/personal.html",
        "patrons.edit_personal",
        personal.personal_tab,
    ),
    Tab(
        "contact",
        "Contact",
        "patrons/tabs/contact.html",
        "patrons.edit_contact",
        contact.contact_tab,
    ),
    Tab(
        "access",
        "Access",
        "patrons/tabs/access.html",
        "patrons.edit_access",
        access.access_tab,
    ),
]
TABS_BY_SLUG = {tab.slug: tab for tab in TABS}
