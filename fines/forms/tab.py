"""The Fines tab's forms: the filters, add a fee, add a credit, act on the selected fees
(pay, waive, dispute, restore, transfer) and refund a payment. Every money form carries a
one-time key (`key`); the services check everything again."""

import uuid
from decimal import Decimal

from django import forms

from fines.models import PaymentMethod, WaiveReason
from fines.money import CENT, amount_refusal
from fines.selectors import FeeFilters, StatusFilter, fee_types
from patrons.forms.record import add_service_errors
from sites.forms import SiteChoiceField

ADD, CREDIT, SELECTED, REFUND, REVERSE = "add", "credit", "selected", "refund", "reverse"
ACTIONS = ("pay", "waive", "dispute", "restore", "transfer")
AMOUNT_HELP = "In whole cents, for example 12.50."
DEFAULT_AMOUNT_MISSING = "Enter the amount: this fee type has no default amount."
COMMENT_MAX = 500


class AmountField(forms.CharField):
    """An amount of money: fines.money decides what is accepted, with its messages."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 20)
        kwargs.setdefault("widget", forms.TextInput(attrs={"inputmode": "decimal"}))
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value)
        if value in self.empty_values:
            return None
        value = value.replace(",", "")
        refusal = amount_refusal(value)
        if refusal:
            raise forms.ValidationError(refusal)
        return Decimal(value).quantize(CENT)


class KeyedForm(forms.Form):
    """A money form: its one-time key is made when the form is shown, and kept when the
    form comes back with errors (nothing was recorded under it)."""

    key = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("key", uuid.uuid4())

    def add_service_errors(self, error) -> None:
        add_service_errors(self, error)


class FilterForm(forms.Form):
    status = forms.ChoiceField(choices=StatusFilter.CHOICES, required=False)
    fee_type = forms.ModelChoiceField(None, required=False, empty_label="Any type", label="Type")
    owner_site = forms.ModelChoiceField(None, required=False, empty_label="Any site", label="Owner")

    def __init__(self, *args, sites, **kwargs):
        super().__init__(*args, **kwargs)
        from fines.models import FeeType

        self.fields["fee_type"].queryset = FeeType.objects.order_by("name")
        self.fields["owner_site"].queryset = sites

    def filters(self) -> FeeFilters:
        """What was chosen; anything unreadable is ignored (the default view)."""
        if not self.is_valid():
            return FeeFilters()
        data = self.cleaned_data
        return FeeFilters(
            status=data["status"] or StatusFilter.ACTIVE,
            fee_type=data["fee_type"],
            owner_site=data["owner_site"],
        )


class _NewFeeForm(KeyedForm):
    fee_type = forms.ModelChoiceField(None, label="Type")
    owner_site = SiteChoiceField(label="Owner")
    amount = AmountField(help_text=AMOUNT_HELP)
    comment = forms.CharField(max_length=COMMENT_MAX, required=False)

    credit = False

    def __init__(self, *args, sites, preferred_site_ids=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["fee_type"].queryset = fee_types(credit=self.credit)
        self.fields["owner_site"].offer(self, "owner_site", sites, preferred_site_ids)


class FeeAddForm(_NewFeeForm):
    prefix = ADD
    item_barcode = forms.CharField(max_length=40, required=False, label="Item barcode")
    field_order = ["fee_type", "amount", "owner_site", "item_barcode", "comment"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["amount"].required = False
        self.fields["amount"].help_text = "Empty: the type's default amount. " + AMOUNT_HELP

    def clean(self):
        data = super().clean()
        fee_type = data.get("fee_type")
        if "amount" in data and data["amount"] is None and fee_type is not None:
            if fee_type.default_amount is None:
                self.add_error("amount", DEFAULT_AMOUNT_MISSING)
            else:
                data["amount"] = fee_type.default_amount
        return data


class CreditAddForm(_NewFeeForm):
    prefix = CREDIT
    credit = True
    field_order = ["fee_type", "amount", "owner_site", "comment"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["comment"].required = True
        self.fields["comment"].error_messages["required"] = "Say what the credit is for."


class SelectedFeesForm(KeyedForm):
    """One form for the table: the ticked fees and what to do with them."""

    prefix = SELECTED
    action = forms.ChoiceField(choices=[(a, a) for a in ACTIONS])
    fees = forms.TypedMultipleChoiceField(coerce=int, required=False)
    amount = AmountField(
        required=False, help_text="Empty: the whole of the selected fees. " + AMOUNT_HELP
    )
    payment_method = forms.ModelChoiceField(None, required=False, label="Payment method")
    tendered = AmountField(
        required=False, label="Cash handed over", help_text="For cash: to give the change."
    )
    waive_reason = forms.ModelChoiceField(None, required=False, label="Reason for waiving")
    comment = forms.CharField(max_length=COMMENT_MAX, required=False)

    def __init__(self, *args, fee_ids=(), **kwargs):
        super().__init__(*args, **kwargs)
        # Every id is accepted here; the service says which are not on the record.
        self.fields["fees"].choices = [(pk, pk) for pk in fee_ids]
        self.fields["fees"].valid_value = lambda value: True
        self.fields["payment_method"].queryset = PaymentMethod.objects.order_by("name")
        self.fields["waive_reason"].queryset = WaiveReason.objects.order_by("name")

    def clean(self):
        data = super().clean()
        action = data.get("action")
        if action == "pay" and not data.get("payment_method"):
            self.add_error("payment_method", "Choose how the patron pays.")
        if action == "waive" and not data.get("waive_reason"):
            self.add_error("waive_reason", "Choose a reason for waiving.")
        return data


class RefundForm(KeyedForm):
    prefix = REFUND
    payment = forms.IntegerField(widget=forms.HiddenInput)
    amount = AmountField(help_text=AMOUNT_HELP, label="Amount to refund")
    comment = forms.CharField(max_length=COMMENT_MAX, required=False)


class ReverseForm(KeyedForm):
    prefix = REVERSE
    export = forms.IntegerField(widget=forms.HiddenInput)
