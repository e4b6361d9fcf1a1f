"""The recipients section's query parameters."""

from django import forms

from sendings.fields import WholeNumberField
from sendings.recipients.selectors import FILTERS

MAX_EMAIL = 254


class RecipientQueryForm(forms.Form):
    """?status=&q=&after=&before=&batch=. A bad value falls back to its default rather than a
    400: these come from links people bookmark and share."""

    status = forms.ChoiceField(choices=[(f.value, f.label) for f in FILTERS], required=False)
    q = forms.CharField(max_length=MAX_EMAIL, required=False, strip=True)
    after = forms.CharField(max_length=MAX_EMAIL, required=False, strip=False)
    before = forms.CharField(max_length=MAX_EMAIL, required=False, strip=False)
    batch = WholeNumberField(min_value=1, max_value=1_000, required=False)

    DEFAULTS = {"status": "", "q": "", "after": "", "before": "", "batch": None}

    def values(self) -> dict:
        self.is_valid()  # invalid fields are left out of cleaned_data
        return {name: self.cleaned_data.get(name) or d for name, d in self.DEFAULTS.items()}
