from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.db.models import F, Q
from django.shortcuts import redirect, render
from django.urls import reverse

from patrons.models import Patron
from security import policy
from security.defaults import DEFAULT_GROUPS
from security.models import Level, SecurityGroup
from sites.models import Site

# A group's updated_at a little after its created_at is still the install itself.
_INSTALL_GRACE = timedelta(seconds=1)


@dataclass(frozen=True)
class ChecklistItem:
    title: str
    hint: str
    done: bool
    url: str | None


@login_required
def home(request):
    """The dashboard for operators; patrons have no staff side and go to their own page."""
    user = request.user
    if not user.is_operator:
        return redirect("me")
    checklist = getting_started(user)
    return render(
        request,
        "security/dashboard.html",
        {
            "checklist": checklist,
            "checklist_done": sum(item.done for item in checklist),
            "patron_count": Patron.objects.visible_to(user).count(),
            "site_count": _sites_in_scope(user),
            "can_view_sites": user.has_perm("sites.view_site"),
        },
    )


def getting_started(user) -> list[ChecklistItem]:
    """The first steps after install that this operator may act on, each ticked off from
    the data. Empty once everything they may act on is done."""
    items = []
    if user.has_perm("sites.add_site"):
        items.append(
            ChecklistItem(
                "Create your sites",
                "Add the libraries, schools and branches of your district.",
                Site.objects.count() > 1,
                reverse("sites:list") if user.has_perm("sites.view_site") else None,
            )
        )
    if user.has_perm("patrons.edit_access"):
        items.append(
            ChecklistItem(
                "Add operators",
                "Register your colleagues with a staff security group (Access tab) so that "
                "they can sign in.",
                Patron.objects.filter(
                    security_group__level__gt=Level.DISTRICT_ADMINISTRATOR,
                    security_group__level__lt=Level.PATRON,
                ).exists(),
                reverse("patrons:register") if user.has_perm("patrons.add_patron") else None,
            )
        )
    if user.has_perm("security.change_securitygroup"):
        items.append(
            ChecklistItem(
                "Review security groups",
                "Check what each group may do and adjust it to how your libraries work.",
                _groups_reviewed(),
                _url_if(user, "security:groups", "security.view_securitygroup"),
            )
        )
    return [] if all(item.done for item in items) else items


def _groups_reviewed() -> bool:
    default_names = [name for name, *_ in DEFAULT_GROUPS]
    return SecurityGroup.objects.filter(
        Q(updated_at__gt=F("created_at") + _INSTALL_GRACE) | ~Q(name__in=default_names)
    ).exists()


def _url_if(user, url_name: str, perm: str) -> str | None:
    return reverse(url_name) if user.has_perm(perm) else None


def _sites_in_scope(user) -> int:
    site_ids = policy.site_scope_ids(user)
    return Site.objects.count() if site_ids is None else len(site_ids)
