from django import forms
from django.utils.translation import gettext_lazy as _lazy

DECLINE_REASONS = [
    _lazy("Small sending: sendings under the minimum size cannot be stopped."),
    _lazy("Already completed: every contact had received it."),
    _lazy("The request did not come from someone allowed to act on this account."),
]


class TicketRequestForm(forms.Form):
    MESSAGE_MAX = 2000

    message = forms.CharField(required=False, max_length=MESSAGE_MAX, strip=True)


class DeclineForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        strip=True,
        error_messages={"required": _lazy("Give a reason for declining: the customer is told it.")},
    )
