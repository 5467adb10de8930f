"""Placeholder until the page lands."""

from django.http import Http404


def import_start(request):
    raise Http404


def import_run(request, run_id):
    raise Http404


import_progress = import_apply = import_discard = import_invalid_csv = import_run
