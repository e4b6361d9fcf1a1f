"""Form fields that refuse hostile input with a message instead of letting it reach a query,
a header or `int()`: every form of the pages uses these.

- `SingleLineField`: text without line breaks or other control characters (names, subjects:
  they end up in email headers and one-line displays).
- `WholeNumberField` and `whole_number`: ASCII digits only, within bounds. `str.isdigit()`
  accepts "²", which `int()` refuses, and `int()` accepts "١٢" (Arabic-Indic digits).
- `BoundedDateField`: a date in a sane window, so arithmetic on it cannot overflow.
- `WireEmailField` and `wire_email_validate`: an address that can go on the wire
  (`batches.mime.address_wire_problem`), not only one that looks valid.

Django's CharField already refuses NUL characters.
"""

import re
from datetime import date

from django import forms
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy

from batches.mime import address_wire_problem

# Characters that break a header or a line: C0 controls (CR, LF, tab, NUL...), DEL, C1
# controls and the Unicode line and paragraph separators.
_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,19}")
# Large enough for any id or count here, small enough for a signed 64-bit column.
NUMBER_MAX = 2**63 - 1
DATE_MIN = date(2000, 1, 1)
DATE_MAX = date(2099, 12, 31)


def whole_number(value: object, *, minimum: int = 1, maximum: int = NUMBER_MAX) -> int | None:
    """`value` as an int if it is ASCII digits (optionally signed) within bounds, else None."""
    text = str(value).strip()
    if not _WHOLE_NUMBER.fullmatch(text):
        return None
    number = int(text)
    return number if minimum <= number <= maximum else None


class SingleLineField(forms.CharField):
    """One line of text: line breaks, tabs and other control characters are refused."""

    default_error_messages = {
        "line_break": gettext_lazy("Use a single line: no line breaks or tabs.")
    }

    def validate(self, value):
        super().validate(value)
        if value and _LINE_BREAKING.search(value):
            raise forms.ValidationError(self.error_messages["line_break"], code="line_break")


class WholeNumberField(forms.IntegerField):
    """An integer typed with ASCII digits, between `min_value` and `max_value` (both required,
    so no value can overflow a column or a loop)."""

    def __init__(self, *, min_value: int, max_value: int, **kwargs):
        super().__init__(min_value=min_value, max_value=max_value, **kwargs)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        text = str(value).strip()
        if not _WHOLE_NUMBER.fullmatch(text):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return int(text)


class BoundedDateField(forms.DateField):
    """A YYYY-MM-DD date between DATE_MIN and DATE_MAX."""

    default_error_messages = {
        "out_of_range": gettext_lazy("Choose a date between %(min)s and %(max)s."),
    }

    def to_python(self, value):
        day = super().to_python(value)
        if day is not None and not DATE_MIN <= day <= DATE_MAX:
            raise forms.ValidationError(
                self.error_messages["out_of_range"] % {"min": DATE_MIN.year, "max": DATE_MAX.year},
                code="out_of_range",
            )
        return day


def wire_email_validate(address: str) -> None:
    """ValidationError unless `address` is valid and can go on the wire."""
    validate_email(address)
    problem = address_wire_problem(address)
    if problem is not None:
        raise forms.ValidationError(problem, code="not_on_the_wire")


class WireEmailField(forms.EmailField):
    """An email address that can be put in an SMTP envelope and a header."""

    def clean(self, value):
        value = super().clean(value)  # required, then Django's own address check
        problem = address_wire_problem(value) if value else None
        if problem is not None:
            raise forms.ValidationError(problem, code="not_on_the_wire")
        return value
