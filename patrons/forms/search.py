from decimal import Decimal

from django import forms

from patrons.models import ImportFeed, Patron, PatronType
from patrons.selectors import DEFAULT_SORT, SORTS, PatronFilters, Status
from security import policy
from security.models import SecurityGroup
from sites.models import Site

ANY = ""
YES_NO = [(ANY, "Any"), ("yes", "Yes"), ("no", "No")]
STATUS_CHOICES = [
    (ANY, "All"),
    (Status.ACTIVE, "Active and not expired"),
    (Status.INACTIVE, "Inactive or expired"),
]
SORT_CHOICES = [(name, name) for name in SORTS] + [(f"-{name}", f"-{name}") for name in SORTS]

CENT = Decimal("0.01")
MOST_OWED = Decimal("9999999999.99")  # the most a balance column holds (numeric(12,2))
OWES_NOT_AN_AMOUNT = "Enter an amount such as 12.50."
OWES_NEGATIVE = "Enter an amount of zero or more."
OWES_TOO_MANY_DECIMALS = "Enter the amount in whole cents: at most two decimals."
OWES_TOO_LARGE = "That amount is too large: the most is 9,999,999,999.99."


def _yes_no(label: str) -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        label=label,
        choices=YES_NO,
        coerce=lambda value: value == "yes",
        empty_value=None,
        required=False,
    )


class PatronSearchForm(forms.Form):
    """The search box and filters of the patron list (a GET form: the URL is the search).

    Sites on offer are those whose patrons the operator may see (with their grants). Every
    security group is on offer: each row of the list names its patron's group anyway.
    """

    q = forms.CharField(
        label="Find patrons",
        required=False,
        max_length=200,
        help_text="Barcode, username, email, identifier, or names (first, last, preferred).",
        widget=forms.SearchInput(attrs={"autofocus": True, "autocomplete": "off"}),
    )
    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False)
    group = forms.ModelChoiceField(
        label="Security group",
        queryset=SecurityGroup.objects.order_by("level", "name"),
        required=False,
        empty_label="Any",
    )
    site = forms.ModelChoiceField(
        label="Home site", queryset=Site.objects.none(), required=False, empty_label="Any"
    )
    patron_type = forms.ModelChoiceField(
        queryset=PatronType.objects.order_by("name"), required=False, empty_label="Any"
    )
    source = forms.ChoiceField(
        label="Account type", choices=[(ANY, "Any"), *Patron.Source.choices], required=False
    )
    feed = forms.ModelChoiceField(
        label="Import feed",
        queryset=ImportFeed.objects.order_by("name"),
        required=False,
        empty_label="Any",
    )
    blocked = _yes_no("Has an active block")
    notes = _yes_no("Has notes")
    generic = _yes_no("Generic account")
    owes = forms.DecimalField(
        label="Owes more than",
        required=False,
        min_value=0,
        help_text="Net balance: fees owed less credit.",
        error_messages={"invalid": OWES_NOT_AN_AMOUNT, "min_value": OWES_NEGATIVE},
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0", "inputmode": "decimal"}),
    )
    sort = forms.ChoiceField(choices=SORT_CHOICES, required=False, widget=forms.HiddenInput)

    FILTERS = [
        "status",
        "group",
        "site",
        "patron_type",
        "source",
        "feed",
        "blocked",
        "notes",
        "generic",
        "owes",
    ]

    def __init__(self, *args, operator, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = policy.scope(operator, "patrons.view_patron", Site)
        self.fields["site"].label_from_instance = lambda site: f"{site.code} - {site.name}"

    def clean_owes(self) -> Decimal | None:
        """In whole cents, and no more than a balance can be: the size is checked first, as
        a huge amount cannot be rounded to cents (the decimal context's precision)."""
        amount = self.cleaned_data.get("owes")
        if amount is None:
            return None
        if amount > MOST_OWED:
            raise forms.ValidationError(OWES_TOO_LARGE, code="max_value")
        if amount != amount.quantize(CENT):
            raise forms.ValidationError(OWES_TOO_MANY_DECIMALS, code="max_decimal_places")
        return amount

    def value(self, name: str):
        """The cleaned value, or "any" for a field left empty or refused."""
        cleaned = getattr(self, "cleaned_data", {})
        return cleaned.get(name) if cleaned.get(name) not in (None, "") else None

    @property
    def query(self) -> str:
        return self.value("q") or ""

    @property
    def ordering(self) -> str:
        return self.value("sort") or DEFAULT_SORT

    @property
    def is_filtered(self) -> bool:
        return any(self.value(name) is not None for name in self.FILTERS)

    def filters(self) -> PatronFilters:
        return PatronFilters(
            status=self.value("status") or "",
            security_group=self.value("group"),
            site=self.value("site"),
            patron_type=self.value("patron_type"),
            source=self.value("source") or "",
            import_feed=self.value("feed"),
            has_active_block=self.value("blocked"),
            has_notes=self.value("notes"),
            is_generic=self.value("generic"),
            owes_more_than=self.value("owes"),
        )
