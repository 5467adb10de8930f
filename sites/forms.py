from django import forms

from sites.models import Site
from sites.selectors import site_code_in_use, site_parent_choices
from sites.services import SITE_CODE_TAKEN

PARENT_REQUIRED = "Choose the site this one belongs to."


class SiteChoiceField(forms.TypedChoiceField):
    """A choice among the sites a form `offer`s ("AMS · Adams Middle School"), cleaned to
    the Site itself; any other id is not a valid choice."""

    def __init__(self, **kwargs):
        super().__init__(coerce=int, **kwargs)
        self.sites: dict[int, Site] = {}

    def offer(self, form: forms.BaseForm, name: str, sites, preferred_site_ids=()) -> None:
        """Offer `sites`, the first of `preferred_site_ids` among them chosen by default."""
        self.sites = {site.pk: site for site in sites}
        self.choices = [(site.pk, f"{site.code} · {site.name}") for site in sites]
        default = next((pk for pk in preferred_site_ids if pk in self.sites), None)
        if default is not None:
            form.initial.setdefault(name, default)

    def clean(self, value):
        chosen = super().clean(value)
        return self.sites.get(chosen, chosen)


def _model_field(name: str, **kwargs) -> forms.Field:
    return Site._meta.get_field(name).formfield(**kwargs)


class SiteForm(forms.Form):
    """Input for sites.services.site_create/site_update. The parent dropdown offers only
    what the operator may choose; only a District Administrator may leave it empty."""

    code = _model_field("code")
    name = _model_field("name")
    kind = _model_field("kind")
    parent = _model_field("parent", queryset=Site.objects.none(), label="Parent site")

    def __init__(self, *args, operator, site: Site | None = None, **kwargs):
        if site is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "code": site.code,
                "name": site.name,
                "kind": site.kind,
                "parent": site.parent_id,
            }
        super().__init__(*args, **kwargs)
        self.site = site
        parent = self.fields["parent"]
        parent.queryset = site_parent_choices(operator=operator, site=site)
        parent.empty_label = "(none: a top-level site)"
        keeps_root = site is not None and site.parent_id is None
        if not (operator.is_district_administrator or keeps_root):
            parent.required = True
            parent.empty_label = None
            parent.error_messages["required"] = PARENT_REQUIRED

    def clean_code(self) -> str:
        code = self.cleaned_data["code"].strip().upper()
        if site_code_in_use(code, exclude=self.site):
            raise forms.ValidationError(SITE_CODE_TAKEN)
        return code
