from django import forms

from patrons import record_selectors
from patrons.forms.record import BARCODE_TAKEN, add_service_errors
from patrons.models import Patron, email_required_message
from security import preferences

DUPLICATE_OK_LABEL = "Save anyway: this is a different person"


class RegisterForm(forms.ModelForm):
    """A new patron. The site and group lists offer what the operator may give; a crafted
    choice outside them reaches services.patron_create, whose policy check refuses it."""

    duplicate_ok = forms.BooleanField(label=DUPLICATE_OK_LABEL, required=False)

    class Meta:
        model = Patron
        fields = [
            "first_name",
            "last_name",
            "preferred_first_name",
            "birth_date",
            "barcode",
            "email",
            "patron_type",
            "home_site",
            "expiry_date",
            "security_group",
        ]
        widgets = {
            "birth_date": forms.DateInput(attrs={"type": "date"}),
            "expiry_date": forms.DateInput(attrs={"type": "date"}),
        }
        help_texts = {
            "barcode": "Offered from the next-barcode counter; you may scan or type another.",
        }

    def __init__(self, *args, operator, working_site_id: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["barcode"].required = True
        self.fields["email"].help_text = email_required_message()
        default = preferences.default_group()
        groups = record_selectors.assignable_groups(operator=operator, current=default)
        sites = list(record_selectors.registration_sites(operator=operator))
        self.fields["security_group"].widget.choices = [(g.pk, str(g)) for g in groups]
        self.fields["home_site"].widget.choices = [(s.pk, str(s)) for s in sites]
        if not self.is_bound:
            self.initial.setdefault("security_group", default.pk)
            offered = {site.pk for site in sites}
            for default_site in (working_site_id, operator.home_site_id):
                if default_site in offered:
                    self.initial.setdefault("home_site", default_site)
                    break

    def clean_barcode(self):
        barcode = self.cleaned_data["barcode"]
        if record_selectors.barcode_in_use(barcode):
            raise forms.ValidationError(BARCODE_TAKEN)
        return barcode

    def service_arguments(self) -> dict:
        fields = {name: self.cleaned_data[name] for name in self._meta.fields}
        if fields["email"]:
            fields["communication_channel"] = Patron.Channel.EMAIL
        return fields

    def add_service_errors(self, error) -> None:
        add_service_errors(self, error)
