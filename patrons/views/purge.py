"""Placeholder until the page lands."""

from django.http import Http404


def patron_purge(request):
    raise Http404
