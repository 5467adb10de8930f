"""Placeholder until the page lands."""

from django.http import Http404


def photo_import(request):
    raise Http404
