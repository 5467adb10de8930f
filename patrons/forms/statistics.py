"""Input of the Statistics and Programs tabs."""

from django import forms

from patrons.models import PatronStatistic, Program, ProgramMeasure, StatisticalCategory
from sites.models import Site


class StatisticForm(forms.ModelForm):
    """A statistical category with a note, owned by one of the sites offered (those where
    the operator may edit the record); a crafted site reaches the service's policy check."""

    class Meta:
        model = PatronStatistic
        fields = ["category", "note", "owner_site"]

    def __init__(self, *args, owner_sites, initial_site_id=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].queryset = StatisticalCategory.objects.all()
        self.fields["owner_site"].queryset = Site.objects.all()
        self.fields["owner_site"].widget.choices = [(s.pk, str(s)) for s in owner_sites]
        if initial_site_id in {site.pk for site in owner_sites}:
            self.initial.setdefault("owner_site", initial_site_id)


class ProgramMeasureForm(forms.ModelForm):
    class Meta:
        model = ProgramMeasure
        fields = ["program", "measured_on", "value", "grade", "source"]
        widgets = {"measured_on": forms.DateInput(attrs={"type": "date"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["program"].queryset = Program.objects.all()
