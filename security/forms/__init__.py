"""Forms of the security app; sign-in forms live in accounts.py."""

from security.forms.accounts import *  # noqa: F403
