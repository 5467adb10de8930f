"""Placeholder until the page lands."""

from django.http import Http404


def patron_merge(request):
    raise Http404
