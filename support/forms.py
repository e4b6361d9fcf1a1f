from django import forms
from django.utils.translation import gettext_lazy

DECLINE_REASONS = [
    gettext_lazy("Small sending: sendings under the minimum size cannot be stopped."),
    gettext_lazy("Already completed: every contact had received it."),
    gettext_lazy("The request did not come from someone allowed to act on this account."),
]


class TicketRequestForm(forms.Form):
    MESSAGE_MAX = 2000

    message = forms.CharField(required=False, max_length=MESSAGE_MAX, strip=True)


class DeclineForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        strip=True,
        error_messages={
            "required": gettext_lazy("Give a reason for declining: the customer is told it.")
        },
    )
