"""The purge page: District Administrators see the patrons a purge would take now, choose
to anonymise or delete them, and confirm. The POST purges the candidates as of the POST,
each asked again with its row locked (patrons.services.purge)."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render

from patrons.services import purge

PAGE_SIZE = 100
PURGED = "{summary}."
TEMPLATE = "patrons/purge.html"


class PurgeForm(forms.Form):
    mode = forms.ChoiceField(
        label="Purge by",
        choices=purge.PurgeMode.choices,
        initial=purge.PurgeMode.ANONYMISE,
        widget=forms.RadioSelect,
    )


@login_required
def patron_purge(request):
    purge.require_purger(request.user)
    if request.method == "POST":
        form = PurgeForm(request.POST)
        if form.is_valid():
            try:
                result = purge.purge_patrons(actor=request.user, mode=form.cleaned_data["mode"])
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, PURGED.format(summary=_sentence(result.summary())))
                return redirect("patrons:purge")
        return _page(request, form, status=422)
    return _page(request, PurgeForm())


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _page(request, form, *, status=200):
    candidates = (
        purge.purge_candidates(actor=request.user)
        .select_related("home_site")
        .order_by("purge_date", "pk")
    )
    page = Paginator(candidates, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, TEMPLATE, {"form": form, "page": page}, status=status)
