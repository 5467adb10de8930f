"""Placeholder until the page lands."""

from django.http import Http404


def bulk_usernames(request):
    raise Http404
