from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.core.exceptions import PermissionDenied, ValidationError

from patrons import record_selectors, services
from patrons.forms.access import AccessForm
from patrons.views.record import can_edit, render_tab
from security import delegation_selectors, policy, preferences, two_factor

SAVED = "{tab} saved."
GRANTS_REVIEWED = "Explicit permissions after the change of group: {revoked} revoked, {kept} kept."
DELEGATIONS_REVIEWED = (
    "Group delegations after the change of group: {revoked} taken back, {kept} kept."
)
OWN_GROUP_LOCKED = "You cannot change your own security group."


def access_tab(request, patron, tab):
    editable = can_edit(request.user, patron, tab)
    if request.method == "POST":
        if not editable:
            raise PermissionDenied
        return _save(request, patron, tab)
    return _render(request, patron, tab, readonly=not editable)


def _save(request, patron, tab):
    form, site_access = _form(request, patron, data=request.POST)
    if form.is_valid():
        reviewed, delegations = _reviewed(form, patron)
        try:
            saved = services.patron_update_access(
                actor=request.user, patron=patron, **form.service_arguments()
            )
        except services.StaleEdit as stale:
            form.rebase(stale)
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            if saved.pk == request.user.pk:
                update_session_auth_hash(request, saved)  # a new password keeps one signed in
            messages.success(request, SAVED.format(tab=tab.label))
            if reviewed:
                kept = record_selectors.patron_grant_ids(saved, among=reviewed)
                _review_message(request, GRANTS_REVIEWED, reviewed, kept)
            if delegations:
                kept = delegation_selectors.patron_delegation_ids(saved, among=delegations)
                _review_message(request, DELEGATIONS_REVIEWED, delegations, kept)
            return _render(request, saved, tab)
    return render_tab(
        request, patron, tab, _context(request, patron, form, site_access), status=422
    )


def _reviewed(form, patron) -> tuple[set[int], set[int]]:
    """The grants and delegations a change of group puts up for review (revoked unless
    kept)."""
    if form.cleaned_data["security_group"].pk == patron.security_group_id:
        return set(), set()
    return {grant.pk for grant in form.grants}, {d.pk for d in form.delegations}


def _review_message(request, message: str, reviewed: set[int], kept: set[int]) -> None:
    messages.success(request, message.format(revoked=len(reviewed - kept), kept=len(kept)))


def _render(request, patron, tab, *, readonly=False):
    form, site_access = _form(request, patron, readonly=readonly)
    return render_tab(request, patron, tab, _context(request, patron, form, site_access))


def _form(request, patron, *, data=None, readonly=False):
    operator = request.user
    site_access = record_selectors.patron_site_access(patron)
    form = AccessForm(
        data,
        patron=patron,
        groups=record_selectors.assignable_groups(operator=operator, current=patron.security_group),
        sites=list(record_selectors.grantable_sites(operator=operator)),
        patron_site_ids={site.pk for site in site_access},
        grants=record_selectors.patron_grants(patron),
        delegations=delegation_selectors.patron_delegations(patron),
        group_locked=patron.pk == operator.pk,
        readonly=readonly,
    )
    return form, site_access


def _context(request, patron, form, site_access) -> dict:
    operator = request.user
    return {
        "form": form,
        "group_locked": patron.pk == operator.pk,
        "group_locked_message": OWN_GROUP_LOCKED,
        "sites_out_of_reach": [
            site for site in site_access if not policy.can(operator, policy.GRANT_SITE_ACCESS, site)
        ],
        "grants": form.grants,
        "grants_reviewable": not form.fields["keep_grants"].disabled,
        "delegations": form.delegations,
        "can_grant": operator.has_perm(policy.GRANT_PERMISSION),
        "pin_is_set": bool(patron.pin),
        "password_min_length": preferences.current().password_min_length,
        "password_policy": preferences.current().password_policy,
        **_two_factor_context(operator, patron),
    }


def _two_factor_context(operator, patron) -> dict:
    """Only for patrons whose level requires two-factor sign-in: since when (one query) and
    whether the viewer may reset it."""
    if not two_factor.is_required(patron):
        return {"two_factor_shown": False}
    return {
        "two_factor_shown": True,
        "two_factor_set_up_on": two_factor.two_factor_set_up_on(patron),
        "can_reset_two_factor": policy.can(operator, policy.RESET_TWO_FACTOR, patron),
    }
