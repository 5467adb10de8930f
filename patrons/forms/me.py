"""The patron's own contact details (/me/contact/): the Contact tab's forms and rules, with
what stays the library's taken out.

A patron changes their emails, addresses and phones, how notices reach them, their
language and whether their circulation history is kept. Their contacts (guardians), the
notice opt-ins, the additional email and whether an email bounced are the staff's; names
and birth date are shown, never posted.
"""

from patrons.forms.contact import (
    AddressFormSet,
    ContactEditor,
    ContactForm,
    EmailRowForm,
    EmailRows,
    PhoneFormSet,
    _rows,
)
from patrons.models import PatronEmail
from patrons.services import OWN_ACCOUNT_FIELDS

KEEP_HISTORY_HELP = "Keep a list of what you borrowed. Library staff can see it too."


class OwnSettingsForm(ContactForm):
    settings = sorted(OWN_ACCOUNT_FIELDS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["keep_history"].help_text = KEEP_HISTORY_HELP


class OwnEmailRowForm(EmailRowForm):
    """No "undeliverable" box: the library marks an address whose mail bounced."""

    class Meta(EmailRowForm.Meta):
        fields = ["kind", "address"]


OwnEmailFormSet = _rows(PatronEmail, OwnEmailRowForm, EmailRows)


class OwnContactEditor(ContactEditor):
    form_class = OwnSettingsForm
    specs = [
        ("emails", "Emails", "email", "Primary", OwnEmailFormSet),
        ("addresses", "Addresses", "address", "Preferred", AddressFormSet),
        ("phones", "Phones", "phone", "Preferred", PhoneFormSet),
    ]

    @classmethod
    def section_to_grow(cls, data) -> str | None:
        """The section whose "Add ..." button was pressed, if one was."""
        return next((name for name, *_ in cls.specs if f"add_{name}" in data), None)
