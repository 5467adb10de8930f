import io
import uuid

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.files.base import ContentFile
from django.urls import reverse
from PIL import Image, ImageOps

from patrons.models import Patron
from patrons.models.patron import BARCODE_TAKEN
from patrons.record_selectors import barcode_in_use
from security import policy
from sites.models import Site

PHOTO_TOO_LARGE = "The photo is larger than 5 MB: choose a smaller file."
PHOTO_FORMAT = "The photo must be a JPEG or PNG image."
STALE_REBASED = (
    "The form now shows their values in those fields, and your other changes: check them, "
    "then save again."
)
PHOTO_TOO_MANY_PIXELS = "The photo's dimensions are too large: use a picture under 40 megapixels."
PHOTO_MAX_BYTES = 5 * 1024 * 1024
PHOTO_MAX_PIXELS = 40_000_000  # decoding is bounded by this, not only by the file size
PHOTO_MAX_SIZE = (400, 400)
_PHOTO_FORMATS = {"JPEG": "jpg", "PNG": "png"}


class VersionedForm(forms.ModelForm):
    """Carries the record version the editor loaded, for the stale-edit check."""

    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, readonly: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["version"] = self.instance.version
        if readonly:
            for field in self.fields.values():
                field.disabled = True

    def changes(self) -> dict:
        return {name: self.cleaned_data[name] for name in self._meta.fields}

    def _update_errors(self, errors):
        """Model rules about fields on another tab (Patron.clean: the email a group
        requires) go to the top of this tab instead of failing on a missing field."""
        super()._update_errors(errors_for_fields(errors, self.fields))

    def add_service_errors(self, error) -> None:
        add_service_errors(self, error)

    def rebase(self, stale) -> None:
        """After a refused stale save (services.StaleEdit), see rebase_after_stale_edit."""
        rebase_after_stale_edit(self, stale)


def rebase_after_stale_edit(form: forms.BaseForm, stale) -> None:
    """Keep the editor's input, but show the other operator's values in the fields they
    changed and carry the current version, with the refusal as a form error: the editor
    reviews, and one more Save applies their changes on top. Nothing is overwritten
    unseen."""
    data = form.data.copy()
    data["version"] = str(stale.current.version)
    for name in set(stale.changed_fields) & set(form.fields):
        value = getattr(stale.current, Patron._meta.get_field(name).attname)
        if isinstance(form.fields[name], forms.FileField):
            continue
        if isinstance(form.fields[name], forms.BooleanField):
            data.pop(name, None)
            if value:
                data[name] = "on"
        else:
            data[name] = "" if value is None else str(value)
    form.data = data
    form.add_error(None, [str(stale), STALE_REBASED])


def errors_for_fields(error: ValidationError, fields) -> ValidationError:
    """`error` with the errors of fields not in `fields` moved to the non-field errors."""
    if not hasattr(error, "error_dict"):
        return error
    moved = {}
    for field, errors in error.error_dict.items():
        moved.setdefault(field if field in fields else NON_FIELD_ERRORS, []).extend(errors)
    return ValidationError(moved)


def add_service_errors(form: forms.BaseForm, error, field_map: dict | None = None) -> None:
    """Put a ValidationError raised by a service next to the field it concerns; errors on
    fields the form does not have (`field_map` may redirect them) go to the top."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        name = (field_map or {}).get(field, field)
        form.add_error(name if name in form.fields else None, errors)


class PhotoInput(forms.ClearableFileInput):
    """Links the current photo through the policy-checked photo view, not MEDIA_URL."""

    initial_text = "Current photo"
    clear_checkbox_label = "Remove the photo"
    photo_url = ""

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        if context["widget"]["is_initial"]:
            context["widget"]["value"] = _PhotoLink(self.photo_url)
        return context


class _PhotoLink:
    def __init__(self, url: str):
        self.url = url

    def __str__(self):
        return "view"


class PhotoField(forms.ImageField):
    """JPEG or PNG up to 5 MB, resized to fit 400 x 400 and re-encoded (which also drops
    whatever metadata the camera put in the file)."""

    widget = PhotoInput(attrs={"accept": "image/jpeg,image/png"})

    def to_python(self, data):
        if data is not None and getattr(data, "size", 0) > PHOTO_MAX_BYTES:
            raise forms.ValidationError(PHOTO_TOO_LARGE, code="too_large")
        upload = super().to_python(data)
        if upload is None:
            return None
        if upload.image.format not in _PHOTO_FORMATS:
            raise forms.ValidationError(PHOTO_FORMAT, code="format")
        width, height = upload.image.size
        if width * height > PHOTO_MAX_PIXELS:
            raise forms.ValidationError(PHOTO_TOO_MANY_PIXELS, code="too_many_pixels")
        return resized_photo(upload)


def resized_photo(upload) -> ContentFile:
    upload.seek(0)
    with Image.open(upload) as original:
        image_format = original.format
        original.draft("RGB", PHOTO_MAX_SIZE)  # JPEG: decode at a reduced scale, much faster
        image = ImageOps.exif_transpose(original)
        image.thumbnail(PHOTO_MAX_SIZE)
        if image_format == "JPEG" and image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        options = {"quality": 85} if image_format == "JPEG" else {}
        buffer = io.BytesIO()
        image.save(buffer, format=image_format, **options)
    name = f"{uuid.uuid4().hex}.{_PHOTO_FORMATS[image_format]}"
    return ContentFile(buffer.getvalue(), name=name)


class PersonalForm(VersionedForm):
    photo = PhotoField(required=False)

    FIELDSETS = [
        (
            "Name",
            [
                "title",
                "first_name",
                "middle_name",
                "last_name",
                "preferred_first_name",
                "preferred_last_name",
            ],
        ),
        ("About", ["birth_date", "gender", "patron_type", "cohort", "form_class"]),
        (
            "Card and site",
            ["barcode", "admin_system_id", "home_site", "status", "expiry_date", "purge_date"],
        ),
        ("Account", ["is_generic", "is_staff_member", "is_protected"]),
        ("Photo", ["photo"]),
    ]

    class Meta:
        model = Patron
        fields = [
            "title",
            "first_name",
            "middle_name",
            "last_name",
            "preferred_first_name",
            "preferred_last_name",
            "birth_date",
            "gender",
            "barcode",
            "admin_system_id",
            "patron_type",
            "cohort",
            "form_class",
            "home_site",
            "status",
            "expiry_date",
            "purge_date",
            "is_generic",
            "is_staff_member",
            "is_protected",
            "photo",
        ]
        widgets = {
            "birth_date": forms.DateInput(attrs={"type": "date"}),
            "expiry_date": forms.DateInput(attrs={"type": "date"}),
            "purge_date": forms.DateInput(attrs={"type": "date"}),
        }

    def __init__(self, *args, operator, **kwargs):
        super().__init__(*args, **kwargs)
        in_scope = policy.scope(operator, "patrons.edit_personal", Site)
        current = Site.objects.filter(pk=self.instance.home_site_id)
        self.fields["home_site"].queryset = (in_scope | current).distinct().order_by("code")
        if self.instance.pk:
            self.fields["photo"].widget.photo_url = reverse(
                "patrons:photo", kwargs={"pk": self.instance.pk}
            )

    def fieldsets(self) -> list:
        return [(legend, [self[name] for name in names]) for legend, names in self.FIELDSETS]

    def clean_barcode(self):
        barcode = self.cleaned_data["barcode"]
        if barcode and barcode_in_use(barcode, exclude=self.instance):
            raise forms.ValidationError(BARCODE_TAKEN)
        return barcode

    def changes(self) -> dict:
        """The photo only when one was uploaded or removed ("" removes it)."""
        changes = super().changes()
        if "photo" not in self.changed_data:
            changes.pop("photo")
        elif changes["photo"] is False:
            changes["photo"] = ""
        return changes
