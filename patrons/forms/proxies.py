from django import forms


class ProxyLinkForm(forms.Form):
    """Whom the record's patron may act for: by barcode, among the patrons the operator
    may see (anyone else is "not found")."""

    barcode = forms.CharField(max_length=15, label="May act for (barcode)")
    expires_on = forms.DateField(
        label="Until", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
