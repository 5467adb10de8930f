"""Input for giving an explicit permission. The dropdowns offer only what the policy lets
the granter give; the fields accept any existing permission or site, so that a crafted
request reaches the service, whose policy check refuses it (403) and changes nothing."""

from django import forms
from django.contrib.auth.models import Permission

from security import grant_selectors, policy
from sites.models import Site

NO_OPERATOR_FOUND = "No operator with the username or barcode “{text}” was found."
NOTHING_TO_GIVE = (
    "Your security group passes on no permission yet: a District Administrator can mark "
    "some of its permissions as grantable."
)


class GrantForm(forms.Form):
    operator = forms.CharField(
        label="Operator",
        max_length=150,
        help_text="Their username or library card barcode.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "autofocus": True}),
    )
    permission = forms.ModelChoiceField(
        queryset=Permission.objects.select_related("content_type"), label="Permission"
    )
    site = forms.ModelChoiceField(
        queryset=Site.objects.all(),
        label="Site",
        help_text="The permission applies at this site and every site below it.",
    )

    def __init__(self, *args, granter, **kwargs):
        super().__init__(*args, **kwargs)
        self.granter = granter
        permissions = grant_selectors.grant_permission_choices(operator=granter)
        self.nothing_to_give = not permissions
        self.fields["permission"].widget.choices = [("", "Choose a permission"), *permissions]
        self.fields["site"].widget.choices = [
            ("", "Choose a site"),
            *(
                (site.pk, str(site))
                for site in grant_selectors.grant_site_choices(operator=granter)
            ),
        ]

    def clean_operator(self):
        """Someone outside the granter's sites is "not found", like someone who does not
        exist: the form never confirms an account exists elsewhere."""
        text = self.cleaned_data["operator"].strip()
        recipient = grant_selectors.grant_recipient_find(operator=self.granter, text=text)
        if recipient is None:
            raise forms.ValidationError(NO_OPERATOR_FOUND.format(text=text))
        refusal = policy.grant_recipient_refusal(self.granter, recipient)
        if refusal is not None:
            raise forms.ValidationError(refusal)
        return recipient

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        return {
            "operator": data["operator"],
            "permission": data["permission"],
            "site": data["site"],
        }
