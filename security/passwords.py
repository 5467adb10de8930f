import re

from django.core.exceptions import ValidationError

from security import preferences
from security.models import Preferences

TOO_SHORT = "The password must be at least %(min_length)d characters long."
NEEDS_LETTERS_AND_NUMBERS = "The password must contain both letters and numbers."
NEEDS_UPPER_LOWER_DIGIT = (
    "The password must contain an upper-case letter, a lower-case letter and a digit."
)


class LibraryPasswordValidator:
    """The library's password policy: a minimum length, and letters with numbers (default)
    or upper case, lower case and a digit (the stricter policy)."""

    def _policy(self):
        current = preferences.current()
        return current.password_min_length, current.password_policy

    def validate(self, password, user=None):
        min_length, policy = self._policy()
        errors = []
        if len(password) < min_length:
            errors.append(
                ValidationError(TOO_SHORT, code="too_short", params={"min_length": min_length})
            )
        has_digit = bool(re.search(r"\d", password))
        if policy == Preferences.PasswordPolicy.UPPER_LOWER_DIGIT:
            if not (re.search(r"[A-Z]", password) and re.search(r"[a-z]", password) and has_digit):
                errors.append(ValidationError(NEEDS_UPPER_LOWER_DIGIT, code="weak"))
        elif not (re.search(r"[^\W\d_]", password) and has_digit):
            errors.append(ValidationError(NEEDS_LETTERS_AND_NUMBERS, code="weak"))
        if errors:
            raise ValidationError(errors)

    def get_help_text(self):
        min_length, policy = self._policy()
        if policy == Preferences.PasswordPolicy.UPPER_LOWER_DIGIT:
            return (
                f"At least {min_length} characters, with upper- and lower-case letters and a digit."
            )
        return f"At least {min_length} characters, with letters and numbers."
