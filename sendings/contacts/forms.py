"""The contacts pages' forms: list names, search, the CSV upload."""

from django import forms
from django.conf import settings
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from sendings.contacts.csv_import import CsvFileError, contacts_csv_decode
from sendings.fields import SingleLineField, WholeNumberField


class ContactListForm(forms.Form):
    """A list's name; whether it is free is the service's call (contact_list_create/rename)."""

    name = SingleLineField(label=gettext_lazy("List name"), max_length=200, strip=True)


class ContactSearchForm(forms.Form):
    """The contacts pages' GET parameters; a bad page number falls back to the first page."""

    q = forms.CharField(max_length=254, required=False, strip=True)
    page = WholeNumberField(min_value=1, max_value=1_000_000, required=False)

    def values(self) -> dict:
        self.is_valid()
        return {"q": self.cleaned_data.get("q") or "", "page": self.cleaned_data.get("page") or 1}


class ContactImportForm(forms.Form):
    """The upload: at most CONTACT_IMPORT_MAX_MB, and readable text. Rows are checked later."""

    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        help_text=gettext_lazy(
            "Columns: email, then name. A header row is optional; commas or semicolons."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,text/csv,text/plain"}),
    )

    content = b""  # the file's bytes, once valid

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.CONTACT_IMPORT_MAX_MB
        if upload.size > limit * 1024 * 1024:
            raise forms.ValidationError(
                _(
                    "The file is %(size)s MB; the limit is %(limit)s MB. Split it into smaller "
                    "files."
                )
                % {
                    "size": f"{upload.size / 1024 / 1024:.1f}".replace(
                        ".", formats.get_format("DECIMAL_SEPARATOR")
                    ),
                    "limit": limit,
                }
            )
        content = upload.read()
        try:
            contacts_csv_decode(content)
        except CsvFileError as error:
            raise forms.ValidationError(str(error)) from None
        self.content = content
        return upload
