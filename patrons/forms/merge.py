"""The merge page's forms: picking the two records (GET), and the merge itself (POST): which
records, the versions the preview showed, and for each field that differs whose value to
keep ("survivor" or "merged"). Unknown fields and values are form errors, never guesses."""

from django import forms

from patrons.merge_selectors import FieldDifference
from patrons.services.merge import MERGE_FIELDS

CHOICE_PREFIX = "keep_"
KEEP_SURVIVOR, KEEP_MERGED = "survivor", "merged"
UNKNOWN_CHOICE_FIELD = "The form named a field that cannot be chosen: {names}. Reload the page."
SAME_RECORDS = "Choose two different records."


class MergePickForm(forms.Form):
    """The two records, by barcode or id."""

    a = forms.CharField(label="Surviving record (barcode or id)", max_length=40)
    b = forms.CharField(label="Record merged into it (barcode or id)", max_length=40)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("a") and cleaned.get("a", "").strip() == cleaned.get("b", "").strip():
            raise forms.ValidationError(SAME_RECORDS)
        return cleaned


class MergePairForm(forms.Form):
    """Which records the posted merge concerns, as the preview showed them."""

    survivor = forms.IntegerField(min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput)
    merged = forms.IntegerField(min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput)
    survivor_version = forms.IntegerField(
        min_value=1, max_value=2**31 - 1, widget=forms.HiddenInput
    )
    merged_version = forms.IntegerField(min_value=1, max_value=2**31 - 1, widget=forms.HiddenInput)


class MergeChoicesForm(forms.Form):
    """One radio per field that differs; a field left out keeps the survivor's value."""

    def __init__(self, *args, differences: list[FieldDifference], **kwargs):
        super().__init__(*args, **kwargs)
        for difference in differences:
            self.fields[CHOICE_PREFIX + difference.name] = forms.ChoiceField(
                label=difference.label,
                choices=[(KEEP_SURVIVOR, difference.survivor), (KEEP_MERGED, difference.merged)],
                initial=KEEP_SURVIVOR,
                required=False,
                widget=forms.RadioSelect,
            )

    def clean(self):
        cleaned = super().clean()
        unknown = sorted(
            key[len(CHOICE_PREFIX) :]
            for key in self.data
            if key.startswith(CHOICE_PREFIX)
            and key not in self.fields
            # A field that no longer differs (the preview is older): nothing to choose.
            and key[len(CHOICE_PREFIX) :] not in MERGE_FIELDS
        )
        if unknown:
            raise forms.ValidationError(UNKNOWN_CHOICE_FIELD.format(names=", ".join(unknown)))
        return cleaned

    @property
    def choices(self) -> dict[str, str]:
        """For services.patron_merge: {field: "survivor" | "merged"}."""
        return {
            key[len(CHOICE_PREFIX) :]: value or KEEP_SURVIVOR
            for key, value in self.cleaned_data.items()
        }
