"""The patron's own account (/me/): their card and standing, their contact details, their
password (security.accounts) and a download of their data.

Operators are patrons too: they reach these pages as well. No view takes an id: each acts
on request.user, so no URL or parameter leads to another patron.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.formats import date_format
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from patrons import me_selectors, services
from patrons.forms.contact import LANGUAGES
from patrons.forms.me import OwnContactEditor
from security import policy

EXPIRED = "Your library card expired on {date}. To renew it, contact {site}."
INACTIVE = "Your account is not active ({status}). Please contact {site}."
DETAILS_SAVED = "Your contact details are saved."
CHANGED_MEANWHILE = (
    "Your account was changed while you were editing it (by the library, or by you in "
    "another window). Your changes were not saved: below are the details as they are now; "
    "make your changes again."
)
DATA_FILENAME = "my-library-data-{date}.json"


@login_required
@require_GET
def me(request):
    patron = me_selectors.own_account(user=request.user)
    context = {
        "patron": patron,
        "standing_messages": _standing_messages(patron),
        "blocks": me_selectors.own_blocks(patron),
        "system_blocks": me_selectors.own_system_blocks(patron),
        "notes": me_selectors.own_notes(patron),
        "proxy_for": me_selectors.own_proxy_for(patron),
        "fees": me_selectors.own_fees(patron),
        "closed_fees_shown": me_selectors.CLOSED_FEES_SHOWN,
        "emails": patron.emails.all(),
        "addresses": patron.addresses.all(),
        "phones": patron.phones.all(),
        "language": dict(LANGUAGES).get(patron.language, patron.language),
    }
    return render(request, "patrons/me.html", context)


def _standing_messages(patron) -> list[str]:
    standing = me_selectors.own_standing(patron)
    site = patron.home_site.name
    found = []
    if standing.inactive:
        found.append(INACTIVE.format(status=patron.get_status_display().lower(), site=site))
    if standing.expired_on:
        found.append(EXPIRED.format(date=date_format(standing.expired_on), site=site))
    return found


@login_required
@require_http_methods(["GET", "POST"])
def contact(request):
    patron = me_selectors.own_account(user=request.user)
    if request.method != "POST":
        return _contact_page(request, patron, OwnContactEditor(patron))
    growing = OwnContactEditor.section_to_grow(request.POST)
    editor = OwnContactEditor(patron, request.POST, add=growing)
    if growing:
        return _contact_page(request, patron, editor)
    if editor.is_valid():
        try:
            saved = services.patron_contact_update(
                actor=request.user,
                patron=patron,
                action=policy.OWN_ACCOUNT,
                **editor.service_arguments(),
            )
        except services.StaleEdit:
            # Posting the same form again would be refused again: start from what is saved.
            patron = me_selectors.own_account(user=request.user)
            return _contact_page(request, patron, OwnContactEditor(patron), status=422, stale=True)
        except ValidationError as error:
            editor.add_errors(error)
        else:
            messages.success(request, DETAILS_SAVED)
            if saved.channel_switched_to:
                messages.info(request, services.CHANNEL_SWITCHED[saved.channel_switched_to])
            return redirect("me")
    return _contact_page(request, patron, editor, status=422)


def _contact_page(request, patron, editor, *, status=200, stale=False):
    context = {"patron": patron, "contact": editor, "stale": CHANGED_MEANWHILE if stale else ""}
    return render(request, "patrons/me/contact.html", context, status=status)


@login_required
@require_GET
@never_cache
def data(request):
    """Everything stored about the patron, as a JSON file to keep."""
    response = JsonResponse(
        me_selectors.own_data(user=request.user), json_dumps_params={"indent": 2}
    )
    filename = DATA_FILENAME.format(date=timezone.localdate().isoformat())
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
