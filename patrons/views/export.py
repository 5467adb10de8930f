"""Placeholder until the page lands."""

from django.http import Http404


def patron_export(request):
    raise Http404
