"""The Notes tab's form: one note, added or changed. Offers only the owner sites where the
operator may edit notes; the type comes from the Preferences list (NoteType)."""

from django import forms

from patrons import note_selectors
from patrons.services import NOTE_FIELDS, note_version

TEXT_REQUIRED = "Write the note."
OWNER_SITE_CHOICE = "Choose one of the sites where you may add notes."
EDIT_PREFIX = "edit"


class NoteForm(forms.Form):
    note_type = forms.ModelChoiceField(queryset=None, label="Type", empty_label=None)
    text = forms.CharField(
        label="Note",
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": TEXT_REQUIRED},
    )
    owner_site = forms.ModelChoiceField(
        queryset=None,
        label="Owner site",
        empty_label=None,
        error_messages={"invalid_choice": OWNER_SITE_CHOICE, "required": OWNER_SITE_CHOICE},
        help_text="Only operators whose site access covers this site see the note.",
    )
    is_popup = forms.BooleanField(
        label="Pop-up", required=False, help_text="Shown in a dialog when the record opens."
    )
    is_visible_to_patron = forms.BooleanField(
        label="Visible to the patron", required=False, help_text="Shown on their account page."
    )
    version = forms.CharField(widget=forms.HiddenInput, required=False)

    stale_current = None  # after a refused stale save: the note as the other operator saved it

    def __init__(self, *args, operator, note=None, default_site_id=None, **kwargs):
        self.note = note
        if note is not None:
            kwargs.setdefault("prefix", EDIT_PREFIX)
            kwargs.setdefault(
                "initial",
                {
                    "note_type": note.note_type_id,
                    "text": note.text,
                    "owner_site": note.owner_site_id,
                    "is_popup": note.is_popup,
                    "is_visible_to_patron": note.is_visible_to_patron,
                    "version": note_version(note),
                },
            )
        else:
            kwargs.setdefault("initial", {"owner_site": default_site_id})
        super().__init__(*args, **kwargs)
        self.fields["note_type"].queryset = note_selectors.note_types()
        self.fields["owner_site"].queryset = note_selectors.note_owner_sites(operator)
        for name in ("note_type", "owner_site"):
            # Read once: a <select> reads its choices again to decide on `required`.
            self.fields[name].choices = list(self.fields[name].choices)

    def service_arguments(self) -> dict:
        return {name: self.cleaned_data[name] for name in NOTE_FIELDS}

    def rebase(self, stale) -> None:
        """After a refused stale save: keep the editor's input, carry the current version
        (one more Save applies it on top of what the other operator saved)."""
        data = self.data.copy()
        data[self.add_prefix("version")] = note_version(stale.current)
        self.data = data
        self.stale_current = stale.current
        self.add_error(None, str(stale))
