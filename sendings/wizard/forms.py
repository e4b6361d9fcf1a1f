"""The wizard's steps 1 to 5: one form each (step 6 is in sendings.wizard.schedule)."""

import re

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from sendings.fields import SingleLineField, WireEmailField, wire_email_validate
from sendings.models import ContactList
from sendings.wizard import selectors
from sendings.wizard.services import MAX_TEST_ADDRESSES


class WizardStepForm(forms.Form):
    """A wizard step. Going Back (`lenient`) saves what was typed without insisting on the
    fields the step needs, but still refuses malformed values: nothing invalid is saved."""

    always_required: tuple[str, ...] = ()

    def __init__(self, *args, lenient: bool = False, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.lenient = lenient
        if lenient:
            for name, field in self.fields.items():
                field.required = field.required and name in self.always_required


class SendingDetailsForm(WizardStepForm):
    always_required = ("name",)

    name = SingleLineField(
        label=gettext_lazy("Name"),
        max_length=200,
        help_text=gettext_lazy("Shown in your sending list; contacts don't see it."),
        error_messages={"required": gettext_lazy("Give the sending a name.")},
    )
    subject = SingleLineField(
        label=gettext_lazy("Subject"),
        max_length=255,
        error_messages={"required": gettext_lazy("Write a subject.")},
    )
    from_name = SingleLineField(label=gettext_lazy("Sender name"), max_length=100, required=False)
    from_email = WireEmailField(
        label=gettext_lazy("Sender address"),
        max_length=254,
        error_messages={
            "required": gettext_lazy("Give the address the sending comes from."),
            "invalid": gettext_lazy("Enter a valid email address, such as news@example.com."),
        },
    )


class SendingDesignForm(WizardStepForm):
    html_body = forms.CharField(
        label=gettext_lazy("HTML"),
        max_length=1_000_000,
        widget=forms.Textarea(attrs={"rows": 16, "spellcheck": "false", "class": "code"}),
        help_text=gettext_lazy("{{ name }} and {{ email }} are replaced by each contact's."),
        error_messages={"required": gettext_lazy("Write the message (its HTML).")},
    )


class SendingTextForm(WizardStepForm):
    text_body = forms.CharField(
        label=gettext_lazy("Text version"),
        strip=False,
        max_length=1_000_000,
        widget=forms.Textarea(attrs={"rows": 16}),
        help_text=gettext_lazy(
            "For mail programs that do not show HTML; {{ name }} and {{ email }} work too."
        ),
        error_messages={
            "required": gettext_lazy("Write the text version (or regenerate it from the HTML).")
        },
    )


class SendingTestForm(WizardStepForm):
    addresses = forms.CharField(
        label=gettext_lazy("Send a test to"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("Up to 5 addresses, separated by commas or new lines."),
        error_messages={"required": gettext_lazy("Give at least one address.")},
    )

    def clean_addresses(self) -> list[str]:
        found = [a for a in re.split(r"[\s,;]+", self.cleaned_data["addresses"]) if a]
        addresses = list(dict.fromkeys(a.lower() for a in found))
        if not addresses:
            raise forms.ValidationError(_("Give at least one address."))
        if len(addresses) > MAX_TEST_ADDRESSES:
            raise forms.ValidationError(
                _("A test goes to at most %(most)s addresses; you gave %(count)s.")
                % {"most": MAX_TEST_ADDRESSES, "count": len(addresses)}
            )
        bad = []
        for address in addresses:
            try:
                wire_email_validate(address)
            except forms.ValidationError:
                bad.append(address)
        if bad:
            raise forms.ValidationError(
                _("Not valid email addresses: %(addresses)s.")
                % {"addresses": ", ".join(f"“{a}”" for a in bad)}
            )
        return addresses


class SendingContactsForm(WizardStepForm):
    lists = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Contact lists"),
        queryset=ContactList.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": gettext_lazy("Choose at least one list."),
            "invalid_choice": gettext_lazy("List %(value)s is not one of this subaccount's lists."),
            "invalid_pk_value": gettext_lazy("“%(pk)s” is not a list."),
        },
    )

    def __init__(self, *args, subaccount, **kwargs):
        super().__init__(*args, **kwargs)
        self.subaccount = subaccount
        self.fields["lists"].queryset = selectors.wizard_lists(subaccount_id=subaccount.pk)
        self.audience: int | None = None

    def clean(self):
        cleaned = super().clean()
        lists = cleaned.get("lists")
        if lists is not None:
            self.audience = selectors.audience_count(
                subaccount_id=self.subaccount.pk, list_ids=[lst.pk for lst in lists]
            )
            if lists and not self.audience and not self.lenient:
                self.add_error(
                    "lists",
                    _(
                        "Nobody to send to: these lists are empty or every contact in them has "
                        "unsubscribed or bounced. Choose other lists."
                    ),
                )
        return cleaned
