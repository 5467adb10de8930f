from django import forms

from security import working_site


class WorkingSiteForm(forms.Form):
    site = forms.ModelChoiceField(
        queryset=None,
        widget=forms.RadioSelect,
        empty_label=None,
        label="Working site",
        help_text="New patrons you register get this home site by default.",
    )

    def __init__(self, *args, operator, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = working_site.choices(operator)
