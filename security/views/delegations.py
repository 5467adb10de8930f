"""A security group's delegations: giving one operator the right to give the group or to
change its permissions, and taking it back. Both are POSTs from the group page's
"Delegated to" section (security/_delegations.html); who may is the policy's delegation
section, asked again by the service."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from security import delegation_selectors, policy, services
from security.forms.delegations import DelegationForm
from security.models import SecurityGroup
from security.permission_areas import permission_name
from security.views.groups import delegations_context, get_group, group_form, group_form_page

DELEGATED = "{operator} may now {right}."
REVOKED = "Taken back from {operator}: {right}."
RIGHT_TEXTS = {
    policy.GIVE_STAFF_GROUPS: "give {group} to patrons",
    policy.CHANGE_GROUP: "change the permissions of {group}",
}
REVOKED_RIGHT_TEXTS = {
    policy.GIVE_STAFF_GROUPS: "giving {group} to patrons",
    policy.CHANGE_GROUP: "changing the permissions of {group}",
}
PARTIAL = "security/_delegations.html"


def _managed_group(request, pk: int) -> SecurityGroup:
    """The group, for one who may change it themselves (a delegate never delegates on)."""
    group = get_group(request, pk)
    if not policy.may_manage_delegations(request.user, group):
        raise PermissionDenied
    return group


@require_POST
@login_required
def delegation_create(request, pk: int):
    group = _managed_group(request, pk)
    form = DelegationForm(request.POST, operator=request.user, group=group)
    if form.is_valid():
        try:
            services.delegation_create(actor=request.user, **form.service_arguments())
        except PermissionDenied as refusal:  # the recipient changed meanwhile
            form.add_error("recipient", str(refusal) or policy.DENIED)
        except ValidationError as error:
            form.add_error("recipient", error)
        else:
            right = RIGHT_TEXTS[form.cleaned_data["right"]].format(group=group.name)
            operator = form.cleaned_data["recipient"].display_name
            messages.success(request, DELEGATED.format(operator=operator, right=right))
            return _done(request, group)
    return _refused(request, group, form)


@require_POST
@login_required
def delegation_revoke(request, pk: int, delegation_id: int):
    group = _managed_group(request, pk)
    delegation = delegation_selectors.group_delegation_get(
        operator=request.user, group=group, pk=delegation_id
    )
    if delegation is None:
        raise Http404("No delegation found.")
    services.delegation_revoke(actor=request.user, delegation=delegation)
    name = permission_name(delegation.permission)
    right = REVOKED_RIGHT_TEXTS.get(name, name).format(group=group.name)
    messages.success(request, REVOKED.format(operator=delegation.user.display_name, right=right))
    return _done(request, group)


def _done(request, group: SecurityGroup):
    if not request.htmx:
        return redirect("security:group", pk=group.pk)
    return render(request, PARTIAL, {"group": group, **delegations_context(request, group)})


def _refused(request, group: SecurityGroup, form: DelegationForm):
    """The refusal next to the field (422), on the section (htmx) or the whole page."""
    if request.htmx:
        context = {"group": group, **delegations_context(request, group, form)}
        return render(request, PARTIAL, context, status=422)
    editable = request.user.has_perm("security.change_securitygroup", group)
    page_form = group_form(request, group, readonly=not editable)
    return group_form_page(request, page_form, group=group, delegation_form=form)
