"""The security group pages: the list, a group's page (its permission matrix, editable
when the policy allows), creating and deleting groups. Every decision is the policy's and
the services'; the pages show what they allow and explain what they refuse."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render

from patrons.forms.record import add_service_errors
from security import delegation_selectors, group_selectors, policy, services
from security.forms.delegations import DelegationForm
from security.forms.groups import NOT_HELD_NOTE, GroupDeleteForm, GroupForm
from security.models import SecurityGroup

GROUP_CREATED = "Security group {group} created."
GROUP_SAVED = "Security group {group} saved."
GROUP_DELETED = "Security group {group} deleted."
MEMBERS_MOVED = "Its {count} members now belong to {group}."
MEMBER_MOVED = "Its member now belongs to {group}."
PROTECTED_NOTE = (
    "The District Administrator group has full access to every area and site. It cannot be "
    "changed or deleted."
)
READ_ONLY_NOTE = "You can only change groups below your own level."
PERMISSIONS_ONLY_NOTE = services.DELEGATE_CHANGES_PERMISSIONS_ONLY

FORM_TEMPLATE = "security/group_form.html"


def _require_held(request, perm: str) -> None:
    """403 for operators (and patrons) who do not hold the permission."""
    if not request.user.has_perm(perm):
        raise PermissionDenied


def get_group(request, pk: int) -> SecurityGroup:
    _require_held(request, "security.view_securitygroup")
    queryset = SecurityGroup.objects.select_related("parent", "updated_by", "owner_site")
    return policy.get_or_404(request.user, "security.view_securitygroup", queryset, pk=pk)


@login_required
def group_list(request):
    _require_held(request, "security.view_securitygroup")
    user = request.user
    return render(
        request,
        "security/group_list.html",
        {
            "rows": group_selectors.group_list(operator=user),
            "can_add": user.has_perm("security.add_securitygroup"),
            "can_view_patrons": user.has_perm("patrons.view_patron"),
        },
    )


@login_required
def group_create(request):
    _require_held(request, "security.view_securitygroup")
    _require_held(request, "security.add_securitygroup")
    form = GroupForm(request.POST if request.method == "POST" else None, operator=request.user)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            group = services.group_create(actor=request.user, **form.service_arguments())
        except PermissionDenied as refusal:
            form.add_error(None, str(refusal) or policy.DENIED)
            status = 403
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, GROUP_CREATED.format(group=group.name))
            return redirect("security:group", pk=group.pk)
    return group_form_page(request, form, group=None, status=status)


@login_required
def group_detail(request, pk: int):
    """The group and its permission matrix: an editor for those who may change it,
    read-only for the others. Saving posts here; htmx gets the editor partial back."""
    group = get_group(request, pk)
    editable = request.user.has_perm("security.change_securitygroup", group)
    if request.method != "POST":
        return group_form_page(
            request, group_form(request, group, readonly=not editable), group=group
        )
    if not editable:
        raise PermissionDenied
    form = group_form(request, group, data=request.POST)
    status = 200
    if form.is_valid():
        try:
            saved = services.group_update(
                actor=request.user, group=group, **form.service_arguments()
            )
        except services.ChangedMeanwhile as stale:
            group = get_group(request, pk)
            form = _rebased(request, form, group, stale)
        except PermissionDenied as refusal:
            form.add_error(None, str(refusal) or policy.DENIED)
            status = 403
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            return _saved(request, saved)
    return group_form_page(request, form, group=group, status=status)


def _saved(request, group: SecurityGroup):
    messages.success(request, GROUP_SAVED.format(group=group.name))
    if not request.htmx:
        return redirect("security:group", pk=group.pk)
    group = get_group(request, group.pk)
    return group_form_page(request, group_form(request, group), group=group)


def group_form(request, group: SecurityGroup, *, data=None, readonly=False) -> GroupForm:
    """The editor; a delegate of the group's permissions (who may change it, yet not
    manage it) gets the permissions only."""
    delegate = not policy.may_manage_delegations(request.user, group)
    return GroupForm(
        data, operator=request.user, group=group, readonly=readonly, permissions_only=delegate
    )


def _rebased(request, form: GroupForm, group: SecurityGroup, stale) -> GroupForm:
    """The editor's input on top of the group as it is now, with the refusal: one more
    Save applies it, after the editor has seen the other change."""
    data = form.data.copy()
    data["loaded_at"] = group.updated_at.isoformat()
    rebased = group_form(request, group, data=data)
    rebased.is_valid()
    rebased.add_error(None, stale.messages)
    return rebased


def group_form_page(
    request,
    form: GroupForm,
    *,
    group: SecurityGroup | None,
    status: int = 200,
    delegation_form: DelegationForm | None = None,
):
    if (form.errors or (delegation_form and delegation_form.errors)) and status == 200:
        status = 422
    user = request.user
    context = {
        "form": form,
        "group": group,
        "matrix": form.matrix(),
        "editable": not form.readonly,
        "permissions_only": form.permissions_only,
        "can_delete": group is not None and user.has_perm("security.delete_securitygroup", group),
        "member_count": group_selectors.group_member_count(group) if group else 0,
        "protected_note": PROTECTED_NOTE,
        "read_only_note": READ_ONLY_NOTE,
        "not_held_note": NOT_HELD_NOTE,
        "permissions_only_note": PERMISSIONS_ONLY_NOTE,
        **delegations_context(request, group, delegation_form),
    }
    template = FORM_TEMPLATE + "#editor" if request.htmx and group is not None else FORM_TEMPLATE
    return render(request, template, context, status=status)


def delegations_context(request, group: SecurityGroup | None, form=None) -> dict:
    """The "Delegated to" section: for those who may change the group themselves."""
    if group is None or not policy.may_manage_delegations(request.user, group):
        return {"manages_delegations": False}
    return {
        "manages_delegations": True,
        "delegation_rows": delegation_selectors.group_delegation_rows(
            operator=request.user, group=group
        ),
        "delegation_form": form or DelegationForm(operator=request.user, group=group),
    }


@login_required
def group_delete(request, pk: int):
    """A confirmation page that asks where the members go, then the deletion; refusals
    (the group new patrons join, one's own group) are shown on the page."""
    group = get_group(request, pk)
    policy.require(request.user, "security.delete_securitygroup", group)
    member_count = group_selectors.group_member_count(group)
    choices = group_selectors.assignable_groups(operator=request.user, exclude=group)
    form = GroupDeleteForm(request.POST if request.method == "POST" else None, choices=choices)
    status = 200
    if request.method == "POST" and form.is_valid():
        target = form.cleaned_data["move_members_to"]
        try:
            services.group_delete(actor=request.user, group=group, move_members_to=target)
        except PermissionDenied as refusal:
            form.add_error(None, str(refusal) or policy.DENIED)
            status = 403
        except ValidationError as error:
            form.add_error("move_members_to" if member_count else None, error)
            status = 422
        else:
            message = GROUP_DELETED.format(group=group.name)
            if member_count:
                moved = MEMBER_MOVED if member_count == 1 else MEMBERS_MOVED
                message += " " + moved.format(count=member_count, group=target.name)
            messages.success(request, message)
            return redirect("security:groups")
    context = {
        "group": group,
        "form": form,
        "member_count": member_count,
        "children": list(group.children.order_by("level", "name")),
        "reason": services.group_delete_refusal(actor=request.user, group=group),
    }
    return render(request, "security/group_delete.html", context, status=status)
