"""Input for giving an explicit permission. The dropdowns offer only what the policy lets
the granter give; the fields accept any existing permission or site, so that a crafted
request reaches the service, whose policy check refuses it (403) and changes nothing.

Offered choices that the policy refuses for this recipient or this kind (a permission their
group does not give them cannot be limited; a "to limit only" permission cannot be added)
are told next to the permission field instead (422)."""

from django import forms
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied

from security import grant_selectors, policy
from security.models import Grant
from security.permission_areas import permission_name
from sites.models import Site

NO_OPERATOR_FOUND = "No operator with the username or barcode “{text}” was found."
NOTHING_TO_GIVE = (
    "Your security group passes on no permission yet: a District Administrator can mark "
    "some of its permissions as grantable."
)


KIND_CHOICES = [
    (Grant.Kind.ADDS, "Add this site to where they hold it"),
    (Grant.Kind.LIMITS, "Limit what their group gives them to this site"),
]


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
    kind = forms.ChoiceField(
        label="What the permission does",
        choices=KIND_CHOICES,
        initial=Grant.Kind.ADDS,
        required=False,  # absent (an older form): it adds the site
        widget=forms.RadioSelect,
        help_text="Limiting takes power away: they keep the permission their security group "
        "gives them only at this site and the sites below it.",
    )

    def __init__(self, *args, granter, **kwargs):
        super().__init__(*args, **kwargs)
        self.granter = granter
        permissions = grant_selectors.grant_permission_choices(operator=granter)
        self.nothing_to_give = not permissions.addable_ids
        self.offered_ids = {pk for _, options in permissions.groups for pk, _ in options}
        self.fields["permission"].widget.choices = [
            ("", "Choose a permission"),
            *permissions.groups,
        ]
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

    def clean_kind(self):
        return self.cleaned_data["kind"] or Grant.Kind.ADDS

    def clean(self):
        """A refusal the granter fixes by choosing another permission or kind is told next
        to the permission field; any other (a crafted site) is left to the service: 403."""
        data = super().clean()
        fields = ("operator", "permission", "site", "kind")
        if any(data.get(name) is None for name in fields):
            return data
        recipient, permission, site, kind = (data[name] for name in fields)
        try:
            policy.require_grant(self.granter, permission_name(permission), site, recipient, kind)
        except PermissionDenied as refusal:
            message = str(refusal)
            offered = permission.pk in self.offered_ids
            nothing_to_limit = policy.NOTHING_TO_LIMIT.format(name=recipient.display_name)
            if message == nothing_to_limit or (offered and message == policy.GRANT_NOT_GRANTABLE):
                self.add_error("permission", message)
        return data

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        return {
            "operator": data["operator"],
            "permission": data["permission"],
            "site": data["site"],
            "kind": data["kind"],
        }
