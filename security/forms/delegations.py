"""Input for delegating a security group (its "Delegated to" section). The recipient is
looked up among patrons within the delegator's access only; the policy's refusal is shown
next to the field, and the service asks the policy again."""

from django import forms

from security import delegation_selectors, policy
from security.models import SecurityGroup

NO_OPERATOR_IN_SITES = "No operator with that barcode or username in your sites."
RIGHT_CHOICES = [
    (policy.GIVE_STAFF_GROUPS, "Give this group to patrons"),
    (policy.CHANGE_GROUP, "Change this group's permissions"),
]


class DelegationForm(forms.Form):
    recipient = forms.CharField(
        label="Operator",
        max_length=150,
        help_text="Their username or library card barcode. They must be below your level.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    right = forms.ChoiceField(
        label="May",
        choices=RIGHT_CHOICES,
        initial=policy.GIVE_STAFF_GROUPS,
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, operator, group: SecurityGroup, **kwargs):
        super().__init__(*args, **kwargs)
        self.operator, self.group = operator, group

    def clean_recipient(self):
        """Someone outside the delegator's sites is "not found", like someone who does not
        exist: the form never confirms an account exists elsewhere."""
        text = self.cleaned_data["recipient"]
        recipient = delegation_selectors.delegate_find(operator=self.operator, text=text)
        if recipient is None:
            raise forms.ValidationError(NO_OPERATOR_IN_SITES)
        return recipient

    def clean(self):
        data = super().clean()
        recipient, right = data.get("recipient"), data.get("right")
        if recipient is not None and right is not None:
            refusal = policy.delegation_refusal(self.operator, self.group, right, recipient)
            if refusal == policy.DENIED:
                refusal = NO_OPERATOR_IN_SITES  # outside the delegator's access: not found
            if refusal is not None:
                self.add_error("recipient", refusal)
        return data

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        return {"group": self.group, "permission": data["right"], "recipient": data["recipient"]}
