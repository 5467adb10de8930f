"""The cash session's forms (open with a float, close with a blind count) and the cash
report's filters. The services check the amounts again (`cash_amount_refusal`)."""

from decimal import Decimal

from django import forms
from django.utils import timezone

from fines.models import CashSession
from fines.services.cash import COUNT_NEGATIVE, FLOAT_NEGATIVE, cash_amount_refusal
from patrons.forms.record import add_service_errors
from sites.forms import SiteChoiceField

OPEN, CLOSE = "open", "close"
CASH_HELP = "In whole cents, for example 50.00. Zero is fine."
COUNT_HELP = "Count the drawer and enter what is in it."
_NOTE_MAX = CashSession._meta.get_field("close_note").max_length


class CashAmountField(forms.CharField):
    """An amount of cash in a drawer: zero allowed, never negative, whole cents."""

    def __init__(self, *, negative_message: str, **kwargs):
        self.negative_message = negative_message
        kwargs.setdefault("max_length", 40)  # longer: "too large" says more than a length
        kwargs.setdefault("widget", forms.TextInput(attrs={"inputmode": "decimal"}))
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value)
        if value in self.empty_values:
            return None
        value = value.replace(",", "")
        refusal = cash_amount_refusal(value, self.negative_message)
        if refusal:
            raise forms.ValidationError(refusal)
        return Decimal(value).quantize(Decimal("0.01"))


class _CashForm(forms.Form):
    action = forms.CharField(widget=forms.HiddenInput)

    def add_service_errors(self, error) -> None:
        add_service_errors(self, error)


class CashSessionOpenForm(_CashForm):
    """Offers only the sites where the operator may take payments."""

    site = SiteChoiceField(label="Site")
    opening_float = CashAmountField(
        label="Opening float", negative_message=FLOAT_NEGATIVE, help_text=CASH_HELP
    )
    next = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, sites, preferred_site_ids=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["action"] = OPEN
        self.fields["site"].offer(self, "site", sites, preferred_site_ids)


class CashSessionCloseForm(_CashForm):
    session = forms.IntegerField(widget=forms.HiddenInput)
    counted = CashAmountField(
        label="Counted", negative_message=COUNT_NEGATIVE, help_text=COUNT_HELP
    )
    note = forms.CharField(label="Note", max_length=_NOTE_MAX, required=False)

    def __init__(self, *args, session: CashSession | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["action"] = CLOSE
        if session is not None:
            self.initial["session"] = session.pk


class CashReportFilterForm(forms.Form):
    """A GET form: the day (today when empty) and one site or all the reader's sites."""

    day = forms.DateField(
        label="Day", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    site = forms.TypedChoiceField(label="Site", coerce=int, required=False, empty_value=None)

    def __init__(self, *args, sites, **kwargs):
        super().__init__(*args, **kwargs)
        self.sites = {site.pk: site for site in sites}
        self.fields["site"].choices = [("", "All my sites")] + [
            (s.pk, f"{s.code} · {s.name}") for s in sites
        ]

    def chosen(self):
        """(day, sites) to report on, or None when the filters have an error."""
        if not self.is_valid():
            return None
        day = self.cleaned_data["day"] or timezone.localdate()
        site_id = self.cleaned_data["site"]
        sites = [self.sites[site_id]] if site_id is not None else list(self.sites.values())
        return day, sites
