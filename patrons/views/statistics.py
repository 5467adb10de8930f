"""The Statistics tab (statistical categories with a note, by owner site, and read-only
figures about the record) and the Programs tab (reading-program measures and a chart of
progress, drawn on the server)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from patrons import services, statistics_selectors
from patrons.forms.record import add_service_errors
from patrons.forms.statistics import ProgramMeasureForm, StatisticForm
from patrons.models import PatronStatistic, ProgramMeasure
from patrons.views.record import can_edit, render_tab
from security import working_site

ADDED = "{what} added."
REMOVED = "{what} removed."


def statistics_tab(request, patron, tab):
    if request.method != "POST":
        return _render_statistics(request, patron, tab, _statistic_form(request, None))
    if not can_edit(request.user, patron, tab):
        raise PermissionDenied
    if "delete" in request.POST:
        return _delete_statistic(request, patron, tab)
    form = _statistic_form(request, request.POST)
    if form.is_valid():
        try:
            statistic = services.statistic_add(
                actor=request.user, patron=patron, **form.cleaned_data
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, ADDED.format(what=statistic.category))
            return _render_statistics(request, patron, tab, _statistic_form(request, None))
    return _render_statistics(request, patron, tab, form, status=422)


def _statistic_form(request, data):
    return StatisticForm(
        data,
        owner_sites=statistics_selectors.statistic_owner_sites(operator=request.user),
        initial_site_id=working_site.site_id(request) or request.user.home_site_id,
    )


def _delete_statistic(request, patron, tab):
    try:
        statistic = services.statistic_delete(
            actor=request.user, patron=patron, statistic_id=int(request.POST["delete"])
        )
    except (ValueError, PatronStatistic.DoesNotExist) as missing:
        raise Http404("No such statistic.") from missing
    messages.success(request, REMOVED.format(what=statistic.category))
    return _render_statistics(request, patron, tab, _statistic_form(request, None))


def _render_statistics(request, patron, tab, form, *, status=200):
    context = {
        "form": form,
        "statistics": statistics_selectors.patron_statistics(operator=request.user, patron=patron),
        "figures": statistics_selectors.record_figures(reader=request.user, patron=patron),
    }
    return render_tab(request, patron, tab, context, status=status)


def programs_tab(request, patron, tab):
    if request.method != "POST":
        return _render_programs(request, patron, tab, ProgramMeasureForm())
    if not can_edit(request.user, patron, tab):
        raise PermissionDenied
    if "delete" in request.POST:
        return _delete_measure(request, patron, tab)
    form = ProgramMeasureForm(request.POST)
    if form.is_valid():
        try:
            measure = services.program_measure_add(
                actor=request.user, patron=patron, **form.cleaned_data
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, ADDED.format(what=measure))
            return _render_programs(request, patron, tab, ProgramMeasureForm())
    return _render_programs(request, patron, tab, form, status=422)


def _delete_measure(request, patron, tab):
    try:
        measure = services.program_measure_delete(
            actor=request.user, patron=patron, measure_id=int(request.POST["delete"])
        )
    except (ValueError, ProgramMeasure.DoesNotExist) as missing:
        raise Http404("No such measure.") from missing
    messages.success(request, REMOVED.format(what=measure))
    return _render_programs(request, patron, tab, ProgramMeasureForm())


def _render_programs(request, patron, tab, form, *, status=200):
    context = {"form": form, "programs": statistics_selectors.program_charts(patron)}
    return render_tab(request, patron, tab, context, status=status)
