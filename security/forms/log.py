from django import forms

from security.models import OperatorAction
from security.selectors import LogFilters

DATES_REVERSED = "The end date is before the start date."


class OperatorLogFilterForm(forms.Form):
    """The filters of the operator log (a GET form: the URL is the filtered range). A field
    with an error is left out of the filters and shown with its message."""

    operator = forms.CharField(
        label="Operator",
        required=False,
        max_length=150,
        help_text="Username, or the name typed at a failed sign-in.",
    )
    action = forms.ChoiceField(choices=[("", "Any"), *OperatorAction.Kind.choices], required=False)
    patron = forms.CharField(
        label="Patron", required=False, max_length=150, help_text="Barcode or username."
    )
    date_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", DATES_REVERSED)
        return cleaned

    def filters(self) -> LogFilters:
        if not self.is_bound:
            return LogFilters()
        self.is_valid()
        cleaned = self.cleaned_data
        return LogFilters(
            operator=cleaned.get("operator", ""),
            action=cleaned.get("action", ""),
            patron=cleaned.get("patron", ""),
            date_from=cleaned.get("date_from"),
            date_to=cleaned.get("date_to"),
        )

    @property
    def is_filtered(self) -> bool:
        return self.filters() != LogFilters()
