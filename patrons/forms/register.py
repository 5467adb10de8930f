from django import forms

from patrons import record_selectors
from patrons.forms.record import BARCODE_TAKEN, add_service_errors
from patrons.forms.sign_in import SignInFields
from patrons.models import Patron, email_required_message
from security import preferences
from security.models import Level
from sites.models import Site

DUPLICATE_OK_LABEL = "Save anyway: this is a different person"


class RegisterForm(SignInFields, forms.ModelForm):
    """A new patron, or an operator in one step: with a staff group, the sign-in fields and
    the site access of the Access tab, with its rules and messages. The site, group and
    site access lists offer what the operator may give; a crafted choice outside them
    reaches services.patron_create, whose policy check refuses it."""

    duplicate_ok = forms.BooleanField(label=DUPLICATE_OK_LABEL, required=False)
    password1 = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="Without a password the patron cannot sign in until one is set.",
    )
    password2 = forms.CharField(
        label="Password confirmation",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    site_access = forms.ModelMultipleChoiceField(
        queryset=Site.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The sites whose patrons an operator works with (with their branches); "
        "the home site joins by itself.",
    )

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
            "must_change_password",
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
        grantable = record_selectors.grantable_sites(operator=operator)
        self.fields["site_access"].widget.choices = [(s.pk, str(s)) for s in grantable]
        # For the page's script, which shows the sign-in fields for staff groups only.
        self.staff_group_ids = [g.pk for g in groups if g.level < Level.PATRON]
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

    def sign_in_candidate(self, data: dict) -> Patron:
        return Patron(
            username=data.get("username"),
            first_name=data.get("first_name", ""),
            last_name=data.get("last_name", ""),
            email=data.get("email", ""),
        )

    def clean(self):
        data = super().clean()
        self.clean_sign_in(data)
        return data

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        fields = {name: data[name] for name in self._meta.fields}
        if fields["email"]:
            fields["communication_channel"] = Patron.Channel.EMAIL
        fields["username"] = data["username"]
        fields["password"] = data["password1"] or None
        fields["site_access"] = data["site_access"]
        return fields

    def add_service_errors(self, error) -> None:
        add_service_errors(self, error, field_map={"password": "password1"})
