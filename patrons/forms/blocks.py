"""The Blocks tab's two forms: add a block, lift one. The service checks everything again."""

from django import forms
from django.utils import timezone

from patrons.forms.record import add_service_errors
from patrons.models import Block, BlockType
from patrons.services.blocks import (
    BLOCK_EXPIRY_IN_PAST,
    BLOCK_LIFT_REASON_REQUIRED,
    BLOCK_REASON_REQUIRED,
)
from sites.forms import SiteChoiceField

ADD, LIFT = "add", "lift"
_REASON_LENGTH = Block._meta.get_field("note").max_length


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


class BlockAddForm(forms.Form):
    """Offers as owner sites only those where the operator may edit blocks."""

    prefix = ADD

    block_type = forms.ModelChoiceField(BlockType.objects.all(), label="Type")
    note = forms.CharField(
        label="Reason",
        max_length=_REASON_LENGTH,
        error_messages={"required": BLOCK_REASON_REQUIRED},
    )
    expires_on = forms.DateField(
        label="Expires on",
        required=False,
        widget=DateInput(),
        help_text="Leave empty for a block that stays until lifted. It still counts on this day.",
    )
    owner_site = SiteChoiceField(
        label="Owner site", help_text="Only operators of this site see the block."
    )

    def __init__(self, *args, sites, preferred_site_ids=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner_site"].offer(self, "owner_site", sites, preferred_site_ids)

    def clean_expires_on(self):
        expires_on = self.cleaned_data["expires_on"]
        if expires_on is not None and expires_on < timezone.localdate():
            raise forms.ValidationError(BLOCK_EXPIRY_IN_PAST)
        return expires_on

    def add_service_errors(self, error) -> None:
        add_service_errors(self, error)


class BlockLiftForm(forms.Form):
    prefix = LIFT

    block = forms.CharField(widget=forms.HiddenInput)
    lift_reason = forms.CharField(
        label="Reason for lifting",
        max_length=Block._meta.get_field("lift_reason").max_length,
        error_messages={"required": BLOCK_LIFT_REASON_REQUIRED},
    )

    def add_service_errors(self, error) -> None:
        add_service_errors(self, error)
