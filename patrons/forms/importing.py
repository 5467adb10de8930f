from django import forms
from django.conf import settings

from patrons.csv_columns import BY_NAME, COLUMNS, MATCH_KEYS
from patrons.models import ImportFeed
from patrons.services.imports.reading import ENCODINGS

AUTOMATIC = ""
TOO_LARGE = "The file is larger than {limit:,} MB: split it, or run manage.py import_patrons."
FEED_HELP = (
    'Where these patrons come from, such as "Student roll": imported patrons are marked as '
    "managed by it, and only its own patrons are ever deactivated for missing from a file."
)


class ImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="A header row, then one patron per row. UTF-8 (with or without BOM), "
        "Windows-1252 or Latin-1; commas, semicolons, tabs or bars.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,text/csv"}),
    )
    feed = forms.CharField(label="Import feed", max_length=80, help_text=FEED_HELP)
    match_on = forms.ChoiceField(
        label="Match rows to patrons on",
        choices=[(key, BY_NAME[key].label.capitalize()) for key in MATCH_KEYS],
        initial="barcode",
        help_text="A row whose value no patron has creates a new patron.",
    )
    encoding = forms.ChoiceField(
        choices=[(AUTOMATIC, "Detect it"), *ENCODINGS.items()], required=False
    )
    protected = forms.MultipleChoiceField(
        label="Protected columns",
        choices=[(column.name, column.label.capitalize()) for column in COLUMNS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Never overwritten on patrons who exist already (new patrons still get them).",
    )
    deactivate_missing = forms.BooleanField(
        label="Deactivate this feed's patrons who are missing from the file",
        required=False,
        help_text="Only at the sites the file's rows are at; the preview says how many.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.feed_names = list(ImportFeed.objects.values_list("name", flat=True)[:200])

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.LIBSTAFF_IMPORT_MAX_BYTES
        if upload.size > limit:
            raise forms.ValidationError(TOO_LARGE.format(limit=limit // 1024**2))
        return upload

    def clean_feed(self):
        return " ".join(self.cleaned_data["feed"].split())


class ApplyForm(forms.Form):
    valid_only = forms.BooleanField(required=False)
    confirm_deactivation = forms.BooleanField(
        label="The file is complete: deactivate them", required=False
    )
