"""Path converters for every URL of the app: ids that fit the database, identifiers that fit
their alphabet. Anything else is a 404 before a view or a query sees it.

Django's `int` converter takes any run of digits (an id past 2**63 overflows the database
driver) and `str` anything without a slash (a NUL byte is a DataError on PostgreSQL).
Importing this module registers `<id:...>`, `<number:...>` and `<identifier:...>`.
"""

from django.urls import register_converter

# The largest value of a signed 64-bit column (BigAutoField and every other integer here).
ID_MAX = 2**63 - 1


class RowId:
    """A positive database id: ASCII digits, at most 19 of them, no larger than ID_MAX."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 1 <= number <= ID_MAX:
            raise ValueError(f"{value} is not a row id")  # Django answers 404
        return number

    def to_url(self, value) -> str:
        return str(int(value))


class BatchNumber(RowId):
    """A batch's number within its sending (a small positive integer column)."""

    regex = "[0-9]{1,5}"
    maximum = 32767

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 1 <= number <= self.maximum:
            raise ValueError(f"{value} is not a batch number")
        return number


class PublicIdentifier:
    """A public identifier such as SND-0ABC123XYZ: a prefix, a dash and upper-case letters
    and digits (ASCII), as long as the column allows."""

    regex = "[A-Z]{3}-[0-9A-Z]{1,16}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value) -> str:
        return str(value)


register_converter(RowId, "id")
register_converter(BatchNumber, "number")
register_converter(PublicIdentifier, "identifier")
