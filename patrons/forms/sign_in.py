"""The sign-in fields that the Access tab and the registration of an operator share: a
username (unique, ignoring case) and a new password typed twice, checked by the password
rules of the Preferences."""

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.validators import UnicodeUsernameValidator

from patrons.models import Patron
from patrons.models.patron import USERNAME_TAKEN, username_taken

__all__ = ["CONFIRMATION_MISMATCH", "CONFIRMATION_MISSING", "USERNAME_TAKEN", "SignInFields"]
CONFIRMATION_MISMATCH = "The two passwords do not match."
CONFIRMATION_MISSING = "Type the new password again to confirm it."


class SignInFields(forms.Form):
    """Subclasses say whose sign-in it is: `sign_in_candidate(data)`, a Patron with the pk
    (None for a new one) and the names the password must not resemble."""

    username = forms.CharField(
        required=False,
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text="Without a username the patron cannot sign in.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    password1 = forms.CharField(
        label="New password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label="New password confirmation",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def sign_in_candidate(self, data: dict) -> Patron:
        raise NotImplementedError

    def clean_username(self) -> str | None:
        username = self.cleaned_data["username"].strip()
        if not username:
            return None
        own_pk = self.sign_in_candidate(self.cleaned_data).pk
        if username_taken(username, exclude_pk=own_pk):
            raise forms.ValidationError(USERNAME_TAKEN)
        return username

    def clean_sign_in(self, data: dict) -> None:
        """Call from clean(): the confirmation, then the password rules."""
        password, confirmation = data.get("password1"), data.get("password2")
        if password and not confirmation:
            self.add_error("password2", CONFIRMATION_MISSING)
        elif password and password != confirmation:
            self.add_error("password2", CONFIRMATION_MISMATCH)
        elif password:
            try:
                password_validation.validate_password(password, self.sign_in_candidate(data))
            except forms.ValidationError as error:
                self.add_error("password1", error)
