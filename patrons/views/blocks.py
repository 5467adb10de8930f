"""The Blocks tab: active blocks first, then the lifted and expired ones; add a block, lift
one with a reason. Both forms post to the tab's URL (`add-...` or `lift-...` fields).

A block id of another patron, or owned by a site outside the operator's scope, is not found
(404), as the policy answers for a record out of scope; a system block is never lifted."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from patrons import block_selectors, services
from patrons.forms.blocks import LIFT, BlockAddForm, BlockLiftForm
from patrons.views.record import can_edit, render_tab
from security import policy, working_site

BLOCK_ADDED = "Block added: {type}."
BLOCK_LIFTED = "Block lifted: {type}."
BLOCK_NOT_FOUND = "No such block on this record."
SYSTEM_PREFIX = "system:"  # how a system block would be named in a (crafted) lift


def blocks_tab(request, patron, tab):
    editable = can_edit(request.user, patron, tab)
    if request.method != "POST":
        return _render(request, patron, tab, editable=editable)
    if not editable:
        raise PermissionDenied
    if f"{LIFT}-block" in request.POST:
        return _lift(request, patron, tab)
    return _add(request, patron, tab)


def _add(request, patron, tab):
    form = _add_form(request, patron, data=request.POST)
    if form.is_valid():
        try:
            block = services.block_add(actor=request.user, patron=patron, **form.cleaned_data)
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, BLOCK_ADDED.format(type=block.block_type.name))
            return _render(request, patron, tab, editable=True)
    return _render(request, patron, tab, editable=True, add_form=form, status=422)


def _lift(request, patron, tab):
    form = BlockLiftForm(request.POST)
    block_id = request.POST.get(f"{LIFT}-block", "")
    if block_id.startswith(SYSTEM_PREFIX):
        form.is_valid()
        form.add_error(None, services.SYSTEM_BLOCK_NOT_LIFTABLE)
        return _render(request, patron, tab, editable=True, lift_form=form, status=422)
    block = block_selectors.find_visible_block(
        operator=request.user, patron=patron, block_id=block_id
    )
    if block is None:
        raise Http404(BLOCK_NOT_FOUND)
    policy.require(request.user, services.EDIT_BLOCKS, block)
    if form.is_valid():
        try:
            lifted = services.block_lift(
                actor=request.user, block=block, reason=form.cleaned_data["lift_reason"]
            )
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, BLOCK_LIFTED.format(type=lifted.block_type.name))
            return _render(request, patron, tab, editable=True)
    form.lifting = block.pk
    return _render(request, patron, tab, editable=True, lift_form=form, status=422)


def _add_form(request, patron, *, data=None) -> BlockAddForm:
    operator = request.user
    return BlockAddForm(
        data,
        sites=block_selectors.block_owner_sites(operator=operator),
        # The working site, else the operator's home site, else the patron's.
        preferred_site_ids=(
            working_site.site_id(request),
            operator.home_site_id,
            patron.home_site_id,
        ),
    )


def _render(request, patron, tab, *, editable, add_form=None, lift_form=None, status=200):
    if editable and add_form is None:
        add_form = _add_form(request, patron)
    context = {
        "blocks": block_selectors.patron_blocks(operator=request.user, patron=patron),
        "add_form": add_form,
        "lift_form": lift_form,
        "lifting": getattr(lift_form, "lifting", None),
        "may_override": block_selectors.may_override_blocks(operator=request.user, patron=patron),
    }
    return render_tab(request, patron, tab, context, status=status)
