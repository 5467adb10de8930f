from django import forms
from django.core.validators import RegexValidator
from django.utils.dateparse import parse_datetime

from patrons import record_selectors
from security import policy
from security.models import BARCODE_SERIAL_DIGITS, STAFF_LEVELS, Level, Preferences

NOBODY = "Nobody"
NEXT_BARCODE_HELP = "Barcodes already in use are skipped."
_MAX_SERIAL = 10**BARCODE_SERIAL_DIGITS - 1


def _level_choices(levels) -> list[tuple[int, str]]:
    return [(level, f"{label} ({level}) and above") for level, label in levels]


class PreferencesForm(forms.ModelForm):
    """The Preferences page. Each changed field is checked against the policy here, so a
    refusal shows next to its field; the service checks again."""

    next_barcode_number = forms.IntegerField(
        min_value=1,
        max_value=_MAX_SERIAL,
        help_text=NEXT_BARCODE_HELP,
        # Compared with the number the editor saw: registrations meanwhile advance the
        # counter, and saving other preferences must not set it back.
        show_hidden_initial=True,
    )
    loaded_at = forms.CharField(required=False, widget=forms.HiddenInput)

    class Meta:
        model = Preferences
        fields = [
            "password_min_length",
            "password_policy",
            "two_factor_from_level",
            "email_required_from_level",
            "home_site_access_from_level",
            "default_group",
            "barcode_prefix",
            "most_fees_waived_at_once",
        ]
        widgets = {"password_policy": forms.RadioSelect}

    def __init__(self, *args, operator, **kwargs):
        super().__init__(*args, **kwargs)
        self.operator = operator
        self.saved_values = {name: getattr(self.instance, name) for name in self._meta.fields}
        self.initial.setdefault("loaded_at", self.instance.updated_at.isoformat())
        self.initial.setdefault("next_barcode_number", record_selectors.peek_next_barcode_serial())
        self.fields["two_factor_from_level"].choices = [
            ("", NOBODY),
            *_level_choices(STAFF_LEVELS),
        ]
        for name in ("email_required_from_level", "home_site_access_from_level"):
            self.fields[name].choices = _level_choices(Level.choices)
        group_field = self.fields["default_group"]
        group_field.required = True
        group_field.empty_label = None
        group_field.queryset = group_field.queryset.order_by("name")

    def clean_loaded_at(self):
        value = self.cleaned_data["loaded_at"]
        return parse_datetime(value) if value else None

    def clean(self):
        cleaned = super().clean()
        for name in self._meta.fields:
            if name not in cleaned:
                continue
            refusal = policy.preference_refusal(
                self.operator, name, self.saved_values[name], cleaned[name]
            )
            if refusal is not None:
                self.add_error(name, refusal)
        return cleaned

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        changed = set(self.changed_data)
        return {
            "values": {
                name: data[name]
                for name in self._meta.fields
                if data[name] != self.saved_values[name]
            },
            "next_barcode_number": (
                data["next_barcode_number"] if "next_barcode_number" in changed else None
            ),
            "loaded_at": data["loaded_at"],
        }


CODE_HELP = "Letters, digits, - and _; imports and exports use it."
IN_USE = "In use"
_CODE_FORMAT = RegexValidator(r"^[A-Za-z0-9_-]+$", "Use letters, digits, - and _ only.")


class ListEntryForm(forms.ModelForm):
    class Meta:
        fields = ["code", "name"]
        help_texts = {"code": CODE_HELP}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["code"].validators.append(_CODE_FORMAT)


class BaseListEntryFormSet(forms.BaseModelFormSet):
    def add_fields(self, form, index):
        super().add_fields(form, index)
        if getattr(form.instance, "in_use", False):
            # Only the checkbox is disabled: a crafted deletion reaches the service, which
            # refuses it with its reason.
            form.fields["DELETE"].widget.attrs["disabled"] = True
            form.fields["DELETE"].help_text = IN_USE

    def service_arguments(self) -> dict:
        fields = self.form._meta.fields
        saves = [
            (form.instance if form.instance.pk else None, {name: data[name] for name in fields})
            for form in self.forms
            if (data := form.cleaned_data) and not data.get("DELETE") and form.has_changed()
        ]
        return {"saves": saves, "deletions": [form.instance for form in self.deleted_forms]}


def list_entry_formset(preference_list):
    return forms.modelformset_factory(
        preference_list.model,
        form=ListEntryForm,
        formset=BaseListEntryFormSet,
        fields=list(preference_list.fields),
        extra=1,
        can_delete=True,
    )
