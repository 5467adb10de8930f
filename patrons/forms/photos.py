"""The photo import's form: a zip file and what its file names are."""

from django import forms

MAX_UPLOAD_BYTES = 200 * 1024 * 1024
ZIP_TOO_LARGE = "The zip file is larger than 200 MB: split it into smaller ones."
MATCH_CHOICES = [
    ("barcode", "Barcode"),
    ("admin_system_id", "Admin system id"),
]


class PhotoImportForm(forms.Form):
    archive = forms.FileField(
        label="Zip file of photos",
        help_text=(
            "JPEG or PNG files named by barcode or admin system id (P0001234.jpg), up to "
            "5 MB each; folders inside the zip are ignored. At most 200 MB and 5,000 files."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".zip,application/zip"}),
    )
    match_by = forms.ChoiceField(
        label="The file names are",
        choices=MATCH_CHOICES,
        initial="barcode",
        widget=forms.RadioSelect,
    )

    def clean_archive(self):
        archive = self.cleaned_data["archive"]
        if archive.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(ZIP_TOO_LARGE, code="too_large")
        return archive
