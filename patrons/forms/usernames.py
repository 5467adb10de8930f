"""Input of the bulk usernames page: an uploaded list of old,new usernames, or a rule for
the patrons of a site; and the apply step, whose plan travels signed so that a crafted
POST cannot change what was previewed."""

import csv
import io

from django import forms
from django.core import signing

from patrons.models import PatronType
from patrons.services import UsernameChange, UsernamePair, UsernamePlan, UsernameRule
from patrons.services.usernames import TOO_MANY, USERNAMES_MAX_ROWS
from security import policy
from sites.models import Site

MAX_UPLOAD_BYTES = 4 * 1024 * 1024  # 10,000 rows of two 150-character names, and room
PLAN_SALT = "patrons.usernames.plan"
PLAN_MAX_AGE = 60 * 60  # seconds: a preview older than an hour is made again
HEADER = ["old", "new"]

NO_FILE = "Choose a CSV file of old,new usernames."
EMPTY_FILE = "The file is empty."
TOO_LARGE = "The file is too large: at most 4 MB."
NOT_TEXT = "The file is not a CSV in UTF-8: save it from your spreadsheet as “CSV UTF-8”."
UNREADABLE = "Line {line} cannot be read as CSV: {reason}."
WRONG_COLUMNS = "Line {line} has {count} values: each line is the old username, then the new one."
NO_ROWS = "The file has no usernames to change."
PLAN_REFUSED = "This batch cannot be applied as sent: preview it again."


class UsernamesUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="Two columns: the old username, then the new one. A header old,new is optional.",
        error_messages={"required": NO_FILE, "empty": EMPTY_FILE},
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )

    def clean_file(self) -> list[UsernamePair]:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(TOO_LARGE)
        return read_pairs(upload.read())

    @property
    def pairs(self) -> list[UsernamePair]:
        return self.cleaned_data["file"]


def read_pairs(data: bytes) -> list[UsernamePair]:
    """The rows of the file, refused whole with the reason when it is not a list of pairs."""
    try:
        text = data.decode("utf-8-sig")  # with or without a BOM
    except UnicodeDecodeError:
        raise forms.ValidationError(NOT_TEXT) from None
    if "\x00" in text:
        raise forms.ValidationError(NOT_TEXT)
    reader = csv.reader(io.StringIO(text, newline=""))
    pairs: list[UsernamePair] = []
    try:
        for cells in reader:
            _add_pair(pairs, reader.line_num, [cell.strip() for cell in cells])
    except csv.Error as error:
        raise forms.ValidationError(UNREADABLE.format(line=reader.line_num, reason=error)) from None
    if not pairs:
        raise forms.ValidationError(NO_ROWS)
    return pairs


def _add_pair(pairs: list[UsernamePair], line: int, cells: list[str]) -> None:
    while cells and not cells[-1]:  # spreadsheets end some lines with empty cells
        cells.pop()
    if not cells:
        return
    if len(cells) > 2:
        raise forms.ValidationError(WRONG_COLUMNS.format(line=line, count=len(cells)))
    old, new = (cells + [""])[:2]
    if not pairs and [old.lower(), new.lower()] == HEADER:
        return
    if len(pairs) == USERNAMES_MAX_ROWS:
        raise forms.ValidationError(TOO_MANY.format(limit=USERNAMES_MAX_ROWS, count=len(pairs) + 1))
    pairs.append(UsernamePair(line, old, new))


class UsernamesRuleForm(forms.Form):
    """Sites on offer: those where the operator edits the Access tab."""

    rule = forms.ChoiceField(label="New username", choices=UsernameRule.choices)
    site = forms.ModelChoiceField(
        label="Patrons of", queryset=Site.objects.none(), help_text="With its branches."
    )
    patron_type = forms.ModelChoiceField(
        queryset=PatronType.objects.order_by("name"), required=False, empty_label="Any"
    )
    only_without_username = forms.BooleanField(
        label="Only patrons without a username", required=False
    )

    def __init__(self, *args, operator, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = policy.scope(operator, "patrons.edit_access", Site)
        self.fields["site"].label_from_instance = lambda site: f"{site.code} - {site.name}"


def signed_plan(plan: UsernamePlan, *, actor) -> str:
    """The plan's changes (patron id, version, old and new username), for its operator."""
    changes = [[c.patron_id, c.version, c.old, c.new] for c in plan.changes]
    return signing.dumps({"actor": actor.pk, "changes": changes}, salt=PLAN_SALT, compress=True)


class UsernamesApplyForm(forms.Form):
    plan = forms.CharField(widget=forms.HiddenInput, error_messages={"required": PLAN_REFUSED})

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.actor = actor

    def clean_plan(self) -> UsernamePlan:
        """Exactly the plan previewed to this operator, or nothing (a changed or old payload,
        another operator's)."""
        try:
            payload = signing.loads(self.cleaned_data["plan"], salt=PLAN_SALT, max_age=PLAN_MAX_AGE)
            if payload["actor"] != self.actor.pk:
                raise ValueError("another operator's plan")
            changes = [
                UsernameChange(patron_id=int(pk), version=int(version), old=str(old), new=str(new))
                for pk, version, old, new in payload["changes"]
            ]
        except (signing.BadSignature, KeyError, TypeError, ValueError):
            raise forms.ValidationError(PLAN_REFUSED) from None
        return UsernamePlan(changes=changes)
