"""The Access tab's input. The choices shown are what the policy lets the operator give;
the fields accept any existing group or site, so that a crafted request reaches the
service, whose policy check refuses it (403) and changes nothing."""

from collections.abc import Sequence

from django import forms
from django.contrib.auth import password_validation

from patrons.forms.record import add_service_errors, rebase_after_stale_edit
from patrons.forms.sign_in import (  # noqa: F401 (the tab's messages, for its tests)
    CONFIRMATION_MISMATCH,
    CONFIRMATION_MISSING,
    USERNAME_TAKEN,
    SignInFields,
)
from patrons.models import Patron
from patrons.services import PIN_FORMAT
from security.delegation_selectors import right_label
from security.models import Grant, GroupDelegation, SecurityGroup
from sites.models import Site

# Service errors on fields this form does not have: where the operator will look for them.
SERVICE_FIELDS = {"email": "security_group", "password": "password1"}


class GrantIdsField(forms.TypedMultipleChoiceField):
    """Ids of explicit grants (or group delegations). Any id is accepted: the service keeps
    only the patron's own, so a crafted id of someone else's has no effect."""

    def __init__(self, **kwargs):
        super().__init__(coerce=int, required=False, **kwargs)

    def valid_value(self, value) -> bool:
        return True


class AccessForm(SignInFields):
    version = forms.IntegerField(widget=forms.HiddenInput)
    security_group = forms.ModelChoiceField(
        queryset=SecurityGroup.objects.all(), empty_label=None, label="Security group"
    )
    must_change_password = forms.BooleanField(
        label="Force password change at next login", required=False
    )
    pin = forms.RegexField(
        label="New self-check PIN",
        regex=r"^[0-9]{4}$",
        required=False,
        error_messages={"invalid": PIN_FORMAT},
        widget=forms.PasswordInput(
            attrs={"inputmode": "numeric", "autocomplete": "off", "maxlength": 4}
        ),
        help_text="Four digits, for self-check machines.",
    )
    clear_pin = forms.BooleanField(label="Remove the PIN", required=False)
    site_access = forms.ModelMultipleChoiceField(
        queryset=Site.objects.all(), required=False, widget=forms.CheckboxSelectMultiple
    )
    keep_grants = GrantIdsField(
        label="Keep if the group changes", widget=forms.CheckboxSelectMultiple
    )
    keep_delegations = GrantIdsField(
        label="Keep if the group changes", widget=forms.CheckboxSelectMultiple
    )

    def __init__(
        self,
        *args,
        patron: Patron,
        groups: list[SecurityGroup],
        sites: list[Site],
        patron_site_ids: set[int],
        grants: Sequence[Grant] = (),
        delegations: Sequence[GroupDelegation] = (),
        group_locked: bool = False,
        readonly: bool = False,
        **kwargs,
    ):
        kwargs.setdefault("initial", _initial(patron, patron_site_ids))
        super().__init__(*args, **kwargs)
        self.patron = patron
        self.fields["password1"].help_text = " ".join(
            password_validation.password_validators_help_texts()
        )
        self.fields["security_group"].widget.choices = [(g.pk, str(g)) for g in groups]
        self.fields["site_access"].widget.choices = [(s.pk, str(s)) for s in sites]
        self.grants = list(grants)
        self.fields["keep_grants"].choices = [
            (grant.pk, f"Keep {grant.permission.name} at {grant.site}") for grant in self.grants
        ]
        self.fields["keep_grants"].disabled = group_locked
        self.delegations = list(delegations)
        self.fields["keep_delegations"].choices = [
            (d.pk, f"Keep on {d.content_object.name}: {right_label(d).lower()}")
            for d in self.delegations
        ]
        self.fields["keep_delegations"].disabled = group_locked
        self.fields["security_group"].disabled = readonly or (group_locked and not self.is_bound)
        if group_locked and self.is_bound:
            # Shown locked, yet a posted group is taken as posted: changing one's own group
            # is then refused (403), not silently ignored. Browsers post no locked field.
            self.fields["security_group"].required = False
            self.fields["security_group"].widget.attrs["disabled"] = True
        if readonly:
            for field in self.fields.values():
                field.disabled = True

    def clean_security_group(self) -> SecurityGroup:
        return self.cleaned_data["security_group"] or self.patron.security_group

    def sign_in_candidate(self, data: dict) -> Patron:
        return Patron(
            pk=self.patron.pk,
            username=data.get("username"),
            first_name=self.patron.first_name,
            last_name=self.patron.last_name,
            email=self.patron.email,
        )

    def clean(self):
        data = super().clean()
        self.clean_sign_in(data)
        return data

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        return {
            "version": data["version"],
            "security_group": data["security_group"],
            "username": data["username"],
            "sites": data["site_access"],
            "must_change_password": data["must_change_password"],
            "password": data["password1"] or None,
            "pin": data["pin"] or None,
            "clear_pin": data["clear_pin"],
            "keep_grants": data["keep_grants"],
            "keep_delegations": data["keep_delegations"],
        }

    def grant_rows(self) -> list[tuple[Grant, object]]:
        """Each grant with its "keep" checkbox, for a table row."""
        return list(zip(self.grants, self["keep_grants"], strict=True))

    def delegation_rows(self) -> list[tuple[GroupDelegation, str, object]]:
        """Each delegation with what it lets the patron do and its "keep" checkbox."""
        return [
            (delegation, right_label(delegation), keep)
            for delegation, keep in zip(self.delegations, self["keep_delegations"], strict=True)
        ]

    def add_service_errors(self, error) -> None:
        add_service_errors(self, error, SERVICE_FIELDS)

    def rebase(self, stale) -> None:
        rebase_after_stale_edit(self, stale)


def _initial(patron: Patron, patron_site_ids: set[int]) -> dict:
    return {
        "version": patron.version,
        "security_group": patron.security_group_id,
        "username": patron.username or "",
        "must_change_password": patron.must_change_password,
        "site_access": sorted(patron_site_ids),
    }
