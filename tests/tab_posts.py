"""What the record tabs post, as a browser (or a crafted request) states it."""

from django.urls import reverse


def tab_url(patron, tab: str) -> str:
    return reverse("patrons:tab", kwargs={"pk": patron.pk, "tab": tab})


def personal_data(patron, **changes) -> dict:
    data = {
        "version": patron.version,
        "title": patron.title,
        "first_name": patron.first_name,
        "last_name": patron.last_name,
        "barcode": patron.barcode,
        "home_site": patron.home_site_id,
        "status": patron.status,
    }
    return data | changes


def access_data(patron, **changes) -> dict:
    data = {
        "version": patron.version,
        "security_group": patron.security_group_id,
        "username": patron.username or "",
        "site_access": [site.pk for site in patron.site_access.all()],
    }
    return data | changes
