"""The list page's query parameters."""

from django import forms
from django.utils.translation import pgettext_lazy

from sendings.fields import WholeNumberField
from sendings.models import SendingStatus
from sendings.pages.selectors import DEFAULT_SORT, SORTS


class SendingListForm(forms.Form):
    """The list page's GET parameters. A bad value falls back to its default rather than a
    400: these come from URLs people bookmark and share."""

    status = forms.ChoiceField(
        choices=[("", pgettext_lazy("sending status filter", "All")), *SendingStatus.choices],
        required=False,
    )
    q = forms.CharField(max_length=200, required=False, strip=True)
    sort = forms.ChoiceField(choices=[(key, key) for key in SORTS], required=False)
    page = WholeNumberField(min_value=1, max_value=100_000, required=False)

    DEFAULTS = {"status": "", "q": "", "sort": DEFAULT_SORT, "page": 1}

    def values(self) -> dict:
        self.is_valid()  # invalid fields are left out of cleaned_data
        return {name: self.cleaned_data.get(name) or d for name, d in self.DEFAULTS.items()}
