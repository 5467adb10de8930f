from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render

from patrons import record_selectors, services
from patrons.forms.register import RegisterForm
from security import policy, working_site

REGISTERED = "{name} registered with barcode {barcode}."
SAVE_AND_ANOTHER = "another"


@login_required
def patron_register(request):
    policy.require(request.user, "patrons.add_patron")
    if request.method != "POST":
        form = RegisterForm(
            operator=request.user,
            working_site_id=working_site.site_id(request),
            initial={"barcode": record_selectors.next_barcode()},
        )
        return _page(request, form)
    form = RegisterForm(request.POST, operator=request.user)
    if not form.is_valid():
        return _page(request, form, status=422)
    duplicates = _duplicates(request, form)
    if duplicates:
        return _page(request, form, duplicates=duplicates)
    try:
        patron = services.patron_create(actor=request.user, **form.service_arguments())
    except ValidationError as error:
        form.add_service_errors(error)
        return _page(request, form, status=422)
    messages.success(request, REGISTERED.format(name=patron.display_name, barcode=patron.barcode))
    if request.POST.get("action") == SAVE_AND_ANOTHER:
        return redirect("patrons:register")
    return redirect("patrons:record", pk=patron.pk)


def _duplicates(request, form) -> list:
    """Same first name, last name and birth date among the patrons the operator may see,
    unless they confirmed that this is a different person."""
    if form.cleaned_data["duplicate_ok"]:
        return []
    data = form.cleaned_data
    return record_selectors.patron_duplicates(
        operator=request.user,
        first_name=data["first_name"],
        last_name=data["last_name"],
        birth_date=data["birth_date"],
    )


def _page(request, form, *, duplicates=(), status=200):
    context = {"form": form, "duplicates": duplicates, "save_and_another": SAVE_AND_ANOTHER}
    return render(request, "patrons/register.html", context, status=status)
