"""An attachment's input: the file (a PDF or an image, known by its first bytes, never by
what the browser says) and a description."""

from django import forms
from django.conf import settings

# The kinds of file a record takes (signed forms, ID scans): content type -> how it begins.
ATTACHMENT_TYPES = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
}
TYPE_REFUSED = "Attach a PDF or an image (PNG, JPEG or GIF): this file is none of them."
TOO_LARGE = "This file has {size} MB: files of at most {limit} MB can be attached."
EMPTY_FILE = "This file is empty."
_MB = 1024 * 1024


def max_attachment_bytes() -> int:
    return settings.LIBSTAFF_ATTACHMENT_MAX_MB * _MB


class AttachmentForm(forms.Form):
    file = forms.FileField(label="File", error_messages={"empty": EMPTY_FILE})
    description = forms.CharField(
        max_length=200, help_text="What it is, for example: signed photo consent 2026."
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = max_attachment_bytes()
        if upload.size > limit:
            size = f"{upload.size / _MB:.1f}"
            raise forms.ValidationError(
                TOO_LARGE.format(size=size, limit=settings.LIBSTAFF_ATTACHMENT_MAX_MB)
            )
        self.content_type = _sniffed_type(upload)
        if self.content_type is None:
            raise forms.ValidationError(TYPE_REFUSED)
        return upload


def _sniffed_type(upload) -> str | None:
    upload.seek(0)
    start = upload.read(16)
    upload.seek(0)
    for content_type, signatures in ATTACHMENT_TYPES.items():
        if start.startswith(signatures):
            return content_type
    return None
