"""Input for the first run and for signing in. Validation only: the views call services."""

from django import forms
from django.contrib.auth import forms as auth_forms
from django.core import validators
from django.core.mail import EmailMultiAlternatives
from django.template import loader

from patrons.models import Patron
from security import mail

LOGIN_INVALID = (
    "That username or email and password do not match an account that can sign in. "
    "Passwords are case-sensitive."
)
LOGIN_INACTIVE = "This account is not active. Please contact your library."
LOGIN_NAME_MAX_LENGTH = 254  # an email address's limit; usernames are shorter
LOGIN_TOO_LONG = (
    f"No username or email is longer than {LOGIN_NAME_MAX_LENGTH} characters: check what you typed."
)


class LoginForm(auth_forms.AuthenticationForm):
    """Sign in with a username or an email address (Patron.objects.get_by_natural_key).
    A longer name is refused before authentication: it names no account, and would not fit
    django-axes' record of the attempt."""

    error_messages = {"invalid_login": LOGIN_INVALID, "inactive": LOGIN_INACTIVE}

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        username = self.fields["username"]
        username.label = "Username or email"
        username.max_length = LOGIN_NAME_MAX_LENGTH
        username.validators.append(
            validators.MaxLengthValidator(LOGIN_NAME_MAX_LENGTH, message=LOGIN_TOO_LONG)
        )
        username.widget.attrs.update(
            {"maxlength": LOGIN_NAME_MAX_LENGTH, "autocomplete": "username"}
        )


class _ClearsForcedChange:
    """Choosing a new password oneself satisfies "force password change at next login".

    Only the password columns are written, so a concurrent staff edit of the same record
    is not overwritten by this (older) copy of the patron.
    """

    def save(self, commit=True):
        self.user.set_password(self.cleaned_data["new_password1"])
        self.user.must_change_password = False
        if commit:
            self.user.save(update_fields=["password", "must_change_password", "updated_at"])
        return self.user


class PasswordChangeForm(_ClearsForcedChange, auth_forms.PasswordChangeForm):
    pass


class SetPasswordForm(_ClearsForcedChange, auth_forms.SetPasswordForm):
    pass


class PasswordResetForm(auth_forms.PasswordResetForm):
    """Does the same work whether or not the address belongs to an account that can sign
    in, so that the time it takes does not tell: with no such account the email is built
    all the same, for a stand-in, and dropped. Emails are sent after the response
    (security.mail): the mail server's answer is by far the slowest step."""

    def get_users(self, email):
        """Accounts without a username cannot sign in, so a reset link would be useless.
        None left: the stand-in, an unsaved account of that address."""
        users = [user for user in super().get_users(email) if user.username]
        return users or [Patron(username=email, email=email)]

    def send_mail(
        self,
        subject_template_name,
        email_template_name,
        context,
        from_email,
        to_email,
        html_email_template_name=None,
    ):
        """Django's email, queued instead of sent; the stand-in's queues nothing."""
        subject = "".join(loader.render_to_string(subject_template_name, context).splitlines())
        body = loader.render_to_string(email_template_name, context)
        message = EmailMultiAlternatives(subject, body, from_email, [to_email])
        if html_email_template_name is not None:
            html = loader.render_to_string(html_email_template_name, context)
            message.attach_alternative(html, "text/html")
        mail.send_later(message if context["user"].pk is not None else None)


class SetupForm(auth_forms.SetPasswordMixin, forms.Form):
    """The first site and the District Administrator (ARCHITECTURE.md, /setup/)."""

    site_code = forms.CharField(
        label="Site code", max_length=12, help_text="Short unique code, for example DIST."
    )
    site_name = forms.CharField(
        label="Site name", max_length=120, help_text="For example: Springfield School District."
    )
    first_name = forms.CharField(label="First name", max_length=80, required=False)
    last_name = forms.CharField(label="Last name", max_length=80)
    username = forms.CharField(label="Username", max_length=150)
    email = forms.EmailField(
        label="Email", help_text="Used to reset the password. Required for administrators."
    )
    password1, password2 = auth_forms.SetPasswordMixin.create_password_fields()
    load_demo = forms.BooleanField(
        label="Load demo data",
        required=False,
        help_text="Adds demo libraries, operators and 500 patrons to try LibStaff out.",
    )

    def district_fields(self):
        return [self["site_code"], self["site_name"]]

    def administrator_fields(self):
        names = ["first_name", "last_name", "username", "email", "password1", "password2"]
        return [self[name] for name in names]

    # Service field names (Site, Patron) -> this form's fields, for errors the models raise.
    SERVICE_FIELDS = {"code": "site_code", "name": "site_name"}

    def clean(self):
        self.validate_passwords()
        self.validate_password_for_user(self._candidate())
        return super().clean()

    def _candidate(self) -> Patron:
        """The future administrator, so that passwords like the username are refused."""
        data = self.cleaned_data
        return Patron(
            username=data.get("username"),
            email=data.get("email", ""),
            first_name=data.get("first_name", ""),
            last_name=data.get("last_name", ""),
        )

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        return {
            "site_code": data["site_code"],
            "site_name": data["site_name"],
            "username": data["username"],
            "email": data["email"],
            "password": data["password1"],
            "first_name": data["first_name"],
            "last_name": data["last_name"],
        }

    def add_service_errors(self, error) -> None:
        """Put a ValidationError raised by the service next to the field it concerns."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for field, errors in error.error_dict.items():
            name = self.SERVICE_FIELDS.get(field, field)
            self.add_error(name if name in self.fields else None, errors)
