"""Input for two-factor sign-in: one code, checked by security.two_factor."""

from django import forms

VERIFY_LABEL = "Code from your authenticator app or a recovery code"
CONFIRM_LABEL = "Code from your authenticator app"


class _CodeForm(forms.Form):
    code = forms.CharField(max_length=32, strip=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["code"].widget.attrs.update(
            {"autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false"}
        )

    def refuse(self, message: str) -> None:
        self.add_error("code", message)


class VerifyForm(_CodeForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["code"].label = VERIFY_LABEL
        self.fields["code"].widget.attrs["autofocus"] = True


class ConfirmForm(_CodeForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["code"].label = CONFIRM_LABEL
        self.fields["code"].widget.attrs["inputmode"] = "numeric"
