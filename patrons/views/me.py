from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def me(request):
    """The patron's own account page. Operators are patrons too: they reach it as well."""
    return render(request, "patrons/me.html", {"patron": request.user})
