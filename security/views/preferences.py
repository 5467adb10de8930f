"""The Preferences pages (/staff/preferences/): the settings the rules read, and the lists
records choose from. Holders of security.manage_preferences only; what a change may not
weaken is the policy's (`policy.preference_refusal`)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render

from patrons.forms.record import add_service_errors
from security import policy, preference_lists, preferences, services
from security.forms.preferences import PreferencesForm, list_entry_formset

PREFERENCES_SAVED = "Preferences saved."
NOTHING_CHANGED = "Nothing to save: the preferences are as they were."
LIST_SAVED = "{list} saved."


@login_required
def preferences_edit(request):
    policy.require(request.user, policy.MANAGE_PREFERENCES)
    current = preferences.load()  # the form's own copy: this request's rules keep theirs
    if request.method != "POST":
        return _page(request, PreferencesForm(instance=current, operator=request.user))
    form = PreferencesForm(request.POST, instance=current, operator=request.user)
    if not form.is_valid():
        return _page(request, form, status=422)
    arguments = form.service_arguments()
    try:
        services.preferences_update(actor=request.user, **arguments)
    except services.ChangedMeanwhile as stale:
        form = PreferencesForm(instance=preferences.load(), operator=request.user)
        return _page(request, form, refusals=stale.messages, status=409)
    except PermissionDenied as refusal:
        form.add_error(None, str(refusal) or policy.DENIED)
        return _page(request, form, status=403)
    except ValidationError as error:
        add_service_errors(form, error)
        return _page(request, form, status=422)
    changed = arguments["values"] or arguments["next_barcode_number"] is not None
    messages.success(request, PREFERENCES_SAVED if changed else NOTHING_CHANGED)
    return redirect("preferences:edit")


def _page(request, form: PreferencesForm, *, refusals=(), status: int = 200):
    counts = preference_lists.entry_counts()
    lists = [(spec, counts[slug]) for slug, spec in preference_lists.PREFERENCE_LISTS.items()]
    return render(
        request,
        "security/preferences.html",
        {"form": form, "saved": form.instance, "lists": lists, "refusals": refusals},
        status=status,
    )


@login_required
def preference_list(request, slug: str):
    policy.require(request.user, policy.MANAGE_PREFERENCES)
    spec = preference_lists.PREFERENCE_LISTS.get(slug)
    if spec is None:
        raise Http404
    formset_class = list_entry_formset(spec)
    queryset = preference_lists.entries(spec)
    if request.method != "POST":
        return _list_page(request, spec, formset_class(queryset=queryset))
    formset = formset_class(request.POST, queryset=queryset)
    refusals = []
    if formset.is_valid():
        try:
            services.preference_list_update(
                actor=request.user, preference_list=spec, **formset.service_arguments()
            )
        except ValidationError as error:
            refusals = error.messages
        else:
            messages.success(request, LIST_SAVED.format(list=spec.label))
            return redirect("preferences:list", slug=slug)
    return _list_page(request, spec, formset, refusals=refusals, status=422)


def _list_page(request, spec, formset, *, refusals=(), status: int = 200):
    return render(
        request,
        "security/preference_list.html",
        {"spec": spec, "formset": formset, "refusals": refusals},
        status=status,
    )
