"""The Contact tab: the patron's notice settings and four inline formsets of typed rows
(emails, addresses, phones, contacts), validated together and saved by one service call.

Each formset is the whole wanted state of its rows: the service deletes rows not sent.
"Add another" works without JavaScript: the form is posted with `add_<section>` and comes
back with one more empty row, nothing saved.
"""

import dataclasses
from dataclasses import dataclass

from django import forms
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet, inlineformset_factory, model_to_dict

from patrons.models import Guardian, Patron, PatronAddress, PatronEmail, PatronPhone
from patrons.services.contact import (
    DUPLICATE_EMAIL,
    AddressEntry,
    EmailEntry,
    GuardianEntry,
    PhoneEntry,
    validate_phone,
)

LANGUAGES = [
    ("en", "English"),
    ("fr", "French"),
    ("es", "Spanish"),
    ("de", "German"),
    ("nl", "Dutch"),
    ("it", "Italian"),
    ("pt", "Portuguese"),
]
STREET_REQUIRED = "Enter the street and number."
NAME_REQUIRED = "Enter the contact's name."
ROW_GONE = "This row is no longer on the record: reload the tab."
MAX_ROWS = 20
SETTINGS = [
    "communication_channel",
    "additional_email",
    "language",
    "notify_overdue",
    "notify_hold_ready",
    "notify_fines",
]


class ContactForm(forms.Form):
    """The patron's notice settings and the version the editor loaded.

    Not a ModelForm: the patron's own rules (a Librarian needs an email) depend on the email
    rows being saved with it, so the service checks them, with those rows.
    """

    version = forms.IntegerField(widget=forms.HiddenInput)
    settings = SETTINGS

    def __init__(self, data=None, *, patron: Patron, readonly: bool = False):
        initial = model_to_dict(patron, fields=self.settings) | {"version": patron.version}
        super().__init__(data, initial=initial)
        self.fields.update(
            forms.fields_for_model(
                Patron, fields=self.settings, widgets={"communication_channel": forms.RadioSelect}
            )
        )
        self.fields["language"] = forms.ChoiceField(choices=_languages(patron.language))
        for field in self.fields.values():
            field.disabled = readonly

    def changes(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.settings}


def _languages(current: str) -> list[tuple[str, str]]:
    """The usual languages, and the patron's own when it is another (an import's)."""
    known = {code for code, _ in LANGUAGES}
    return LANGUAGES if current in known else [*LANGUAGES, (current, current)]


class _RowField(forms.Field):
    """The id of an existing row, resolved from the rows the formset already read.

    Model formsets check each id with a query of its own; this keeps a save of many rows to
    one query per formset.
    """

    widget = forms.HiddenInput

    def __init__(self, rows: dict, **kwargs):
        super().__init__(required=False, **kwargs)
        self.rows = rows

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return self.rows[int(value)]
        except (KeyError, TypeError, ValueError):
            raise ValidationError(ROW_GONE, code="invalid_choice") from None


class _Rows(BaseInlineFormSet):
    """Rows of one kind; `flag` is chosen with one radio button across the rows."""

    entry: type
    flag: str | None = None

    def __init__(self, *args, readonly: bool = False, **kwargs):
        self.readonly = readonly
        super().__init__(*args, **kwargs)

    @property
    def choice_name(self) -> str:
        """The name of the radio buttons, shared by all rows."""
        return f"{self.prefix}-{self.flag}"

    @property
    def chosen(self) -> str | None:
        """The prefix of the row holding the flag."""
        if self.flag is None:
            return None
        if self.is_bound:
            return self.data.get(self.choice_name)
        for form in self.forms:
            if getattr(form.instance, self.flag) or form.initial.get(self.flag):
                return form.prefix
        return None

    def add_fields(self, form, index):
        super().add_fields(form, index)
        rows = self._rows()
        form.fields["id"] = _RowField(rows, initial=form.fields["id"].initial)
        form.fields["DELETE"].label = "Remove"
        for field in form.fields.values():
            field.disabled = self.readonly

    def _rows(self) -> dict:
        if not hasattr(self, "_rows_by_pk"):
            self._rows_by_pk = {row.pk: row for row in self.get_queryset()}
        return self._rows_by_pk

    def kept_forms(self):
        """Forms of rows to keep: not removed, and not an extra row left empty."""
        for form in self.forms:
            if self._should_delete_form(form):
                continue
            if form.instance.pk is None and not form.has_changed():
                continue
            yield form

    def _entry_fields(self) -> list[str]:
        """The entry's fields that the row form has (the others keep their defaults)."""
        names = (f.name for f in dataclasses.fields(self.entry))
        return [name for name in names if name in self.form.base_fields]

    def entries(self) -> list:
        entries = []
        for form in self.kept_forms():
            values = {name: form.cleaned_data[name] for name in self._entry_fields()}
            if self.flag:
                values[self.flag] = form.prefix == self.chosen
            entries.append(self.entry(id=form.instance.pk, **values))
        return entries


class EmailRowForm(forms.ModelForm):
    class Meta:
        model = PatronEmail
        fields = ["kind", "address", "is_undeliverable"]
        labels = {"kind": "Type", "address": "Email address"}

    def has_changed(self):
        """The patron's email from before typed emails existed is saved as a row too."""
        return super().has_changed() or (self.instance.pk is None and "address" in self.initial)


class EmailRows(_Rows):
    entry = EmailEntry
    flag = "is_primary"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        patron = self.instance
        if patron.email and not self.get_queryset():
            # The email a patron had before typed emails, shown as an unsaved primary row.
            self.initial_extra = [{"address": patron.email, "is_primary": True}]
            if not self.is_bound:
                self.extra = 1

    def clean(self):
        super().clean()
        seen = set()
        for form in self.kept_forms():
            address = form.cleaned_data.get("address", "").lower()
            if address in seen:
                form.add_error("address", DUPLICATE_EMAIL)
            seen.add(address)


class AddressRowForm(forms.ModelForm):
    class Meta:
        model = PatronAddress
        fields = ["kind", "street", "city", "region", "postal_code", "country"]
        labels = {"kind": "Type"}
        error_messages = {"street": {"required": STREET_REQUIRED}}


class AddressRows(_Rows):
    entry = AddressEntry
    flag = "is_preferred"


class PhoneRowForm(forms.ModelForm):
    class Meta:
        model = PatronPhone
        fields = ["kind", "number"]
        labels = {"kind": "Type", "number": "Phone number"}
        widgets = {"number": forms.TextInput(attrs={"type": "tel"})}

    def clean_number(self):
        number = self.cleaned_data["number"].strip()
        validate_phone(number)
        return number


class PhoneRows(_Rows):
    entry = PhoneEntry
    flag = "is_preferred"


class GuardianRowForm(forms.ModelForm):
    class Meta:
        model = Guardian
        fields = ["name", "relationship", "email", "phone", "receives_notices"]
        widgets = {"phone": forms.TextInput(attrs={"type": "tel"})}
        error_messages = {"name": {"required": NAME_REQUIRED}}

    def clean_phone(self):
        phone = self.cleaned_data["phone"].strip()
        if phone:
            validate_phone(phone)
        return phone


class GuardianRows(_Rows):
    entry = GuardianEntry


def _rows(model, form, formset):
    return inlineformset_factory(
        Patron,
        model,
        fk_name="patron",
        form=form,
        formset=formset,
        extra=0,
        can_delete=True,
        max_num=MAX_ROWS,
        validate_max=True,
    )


EmailFormSet = _rows(PatronEmail, EmailRowForm, EmailRows)
AddressFormSet = _rows(PatronAddress, AddressRowForm, AddressRows)
PhoneFormSet = _rows(PatronPhone, PhoneRowForm, PhoneRows)
GuardianFormSet = _rows(Guardian, GuardianRowForm, GuardianRows)


@dataclass
class Section:
    """One formset as the template shows it."""

    name: str
    title: str
    noun: str
    flag_label: str
    formset: _Rows
    errors: list

    @property
    def add_button(self) -> str:
        return f"add_{self.name}"

    @property
    def full(self) -> bool:
        return self.formset.total_form_count() >= MAX_ROWS


_SECTIONS = [
    ("emails", "Emails", "email", "Primary", EmailFormSet),
    ("addresses", "Addresses", "address", "Preferred", AddressFormSet),
    ("phones", "Phones", "phone", "Preferred", PhoneFormSet),
    ("guardians", "Parents, guardians and other contacts", "contact", "", GuardianFormSet),
]
ADD_BUTTONS = {f"add_{name}": name for name, *_ in _SECTIONS}


class ContactEditor:
    """The whole tab: the settings form and the row formsets, valid or not together."""

    form_class = ContactForm
    specs = _SECTIONS  # (name, title, noun, flag label, formset class)

    def __init__(
        self, patron: Patron, data=None, *, readonly: bool = False, add: str | None = None
    ):
        formsets = {name: formset for name, *_, formset in self.specs}
        if data is not None and add in formsets:
            data = _with_one_more_row(data, add, formsets[add])
        self.form = self.form_class(data, patron=patron, readonly=readonly)
        self.sections = [
            Section(
                name,
                title,
                noun,
                flag_label,
                formset(data, instance=patron, readonly=readonly),
                errors=[],
            )
            for name, title, noun, flag_label, formset in self.specs
        ]
        self.section = {section.name: section for section in self.sections}

    def is_valid(self) -> bool:
        results = [self.form.is_valid()] + [s.formset.is_valid() for s in self.sections]
        return all(results)

    def service_arguments(self) -> dict:
        return {
            "version": self.form.cleaned_data["version"],
            "fields": self.form.changes(),
            **{section.name: section.formset.entries() for section in self.sections},
        }

    def add_errors(self, error: ValidationError) -> None:
        """Show the service's refusals next to what they are about."""
        by_field = error.message_dict if hasattr(error, "error_dict") else {None: error.messages}
        for name, messages in by_field.items():
            name = "emails" if name == "email" else name
            if name in self.section:
                self.section[name].errors.extend(messages)
            elif name in self.form.fields:
                self.form.add_error(name, messages)
            else:
                self.form.add_error(None, messages)


def _with_one_more_row(data, section: str, formset):
    """The posted data with one more row of `section`, holding the row's defaults: a row
    that differs from them would be validated, and shown with errors before it is typed in."""
    key = f"{section}-TOTAL_FORMS"
    try:
        index = int(data.get(key, 0))
    except ValueError:
        return data  # the formset reports the tampered management form
    data = data.copy()
    data[key] = str(index + 1)
    for name, field in formset.form.base_fields.items():
        if isinstance(field, forms.BooleanField):
            if field.initial:
                data[f"{section}-{index}-{name}"] = "on"
        elif field.initial is not None:
            data[f"{section}-{index}-{name}"] = str(field.initial)
    return data
