"""The Identifiers tab's input: one identifier added or changed at a time, and the row a
change or removal is about, as the editor saw it."""

from django import forms
from django.utils.dateparse import parse_datetime

from patrons.forms.record import add_service_errors
from patrons.models import Identifier, IdentifierType
from patrons.services import IDENTIFIER_CHANGED

VALUE_REQUIRED = "Enter the identifier's value."
TYPE_REQUIRED = "Choose the type of identifier."


class IdentifierForm(forms.Form):
    """Type, value and note. The value is trimmed; the service checks that it is free."""

    identifier_type = forms.ModelChoiceField(
        queryset=IdentifierType.objects.all(),
        label="Type",
        error_messages={"required": TYPE_REQUIRED},
    )
    value = forms.CharField(
        max_length=Identifier._meta.get_field("value").max_length,
        error_messages={"required": VALUE_REQUIRED},
    )
    note = forms.CharField(max_length=Identifier._meta.get_field("note").max_length, required=False)

    def __init__(self, *args, identifier: Identifier | None = None, **kwargs):
        if identifier is not None:
            kwargs.setdefault(
                "initial",
                {
                    "identifier_type": identifier.identifier_type_id,
                    "value": identifier.value,
                    "note": identifier.note,
                },
            )
        super().__init__(*args, **kwargs)
        self.taken_by = None  # the holder of a taken value, when the operator may see them

    def service_arguments(self) -> dict:
        return {name: self.cleaned_data[name] for name in ("identifier_type", "value", "note")}

    def add_service_errors(self, error) -> None:
        add_service_errors(self, error)


class RowForm(forms.Form):
    """Which identifier a change or removal is about, and its `updated_at` as the editor
    saw it (the stale-edit check; the template writes it with `updated_at.isoformat`). The
    view resolves the id among the patron's own rows."""

    identifier = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    seen = forms.CharField(widget=forms.HiddenInput)

    def clean_seen(self):
        try:
            seen = parse_datetime(self.cleaned_data["seen"])
        except ValueError:
            seen = None
        if seen is None:
            raise forms.ValidationError(IDENTIFIER_CHANGED, code="invalid")
        return seen
