"""Reading a contacts CSV: decoding, delimiter and header detection, row validation, merging.

Pure Python, no database: `contacts_csv_parse` turns the uploaded bytes into unique contacts
(in the order they first appear) and row errors with the line numbers a spreadsheet or an
editor shows. The service (`sendings.services.contact_import_run`) writes the result in chunks.
"""

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from sendings.formatting import thousands

EMAIL_MAX_LENGTH = 254  # Contact.email
NAME_MAX_LENGTH = 200  # Contact.name
DELIMITERS = (",", ";")
SNIFF_LINES = 20
# Header cells, compared lower-cased with everything but letters removed ("E-mail" -> "email").
EMAIL_HEADERS = {"email", "emailaddress", "mail", "correo", "correoelectronico", "emails"}
NAME_HEADERS = {"name", "fullname", "nombre", "nombrecompleto", "firstname", "contactname", "nom"}
# csv's default field limit is 128 KiB; a runaway quote can swallow the rest of a file into
# one field, which then becomes one clear error instead of an exception.
csv.field_size_limit(32 * 1024 * 1024)


class CsvFileError(Exception):
    """The file as a whole cannot be imported; the message is written for the user."""


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str


@dataclass
class ParsedContacts:
    """What a file holds: unique contacts by lower-cased email, in order of first appearance."""

    has_header: bool = False
    delimiter: str = ","
    total_rows: int = 0  # data rows: neither the header nor blank lines
    # email -> name ("" when no row for that email had a name); dicts keep insertion order.
    contacts: dict[str, str] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)
    duplicate_rows: int = 0  # rows whose email an earlier row already had

    @property
    def invalid_rows(self) -> int:
        return len(self.errors)


def contacts_csv_decode(data: bytes) -> str:
    """The file's text: UTF-8, with or without a byte order mark; anything else is refused."""
    if not data.strip():
        raise CsvFileError("The file is empty.")
    if b"\x00" in data[:65536]:
        # UTF-16 text, spreadsheets (.xlsx is a zip), images: none of them is a CSV file.
        raise CsvFileError(
            _("This is not a CSV file. Save the spreadsheet as “CSV UTF-8” and upload that.")
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise CsvFileError(
            _(
                "The file is not UTF-8 text (line %(line)s has characters in another "
                "encoding). Save it as “CSV UTF-8” and upload it again."
            )
            % {"line": thousands(line)}
        ) from None
    if "\x00" in text:
        raise CsvFileError(_("This is not a CSV file: it contains binary data."))
    return text


def _letters(cell: str) -> str:
    """ "Correo electrónico" -> "correoelectronico": accents folded, all but letters dropped."""
    folded = unicodedata.normalize("NFKD", cell.lower())
    return re.sub(r"[^a-z]", "", folded)


def _invalid(raw: str) -> str:
    return _("“%(email)s” is not a valid email address") % {"email": _shorten(raw)}


def email_normalize(raw: str) -> tuple[str, str | None]:
    """(lower-cased email, None) when valid, else (raw, the reason)."""
    email = raw.strip().strip("<>").strip().lower()
    if not email:
        return email, _("Email is missing")
    if len(email) > EMAIL_MAX_LENGTH:
        return email, _("Email is longer than %(count)s characters") % {"count": EMAIL_MAX_LENGTH}
    if not email.isascii():
        # Stored as ASCII (punycode domain), so Python's and the database's lower() agree.
        local, _at, domain = email.rpartition("@")
        try:
            email = f"{local}@{domain.encode('idna').decode('ascii')}"
        except UnicodeError:
            return email, _invalid(raw)
        if not email.isascii() or len(email) > EMAIL_MAX_LENGTH:
            return email, _invalid(raw)
    try:
        validate_email(email)
    except ValidationError:
        return email, _invalid(raw)
    return email, None


def _shorten(value: str, limit: int = 60) -> str:
    value = value.strip()
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _looks_like_email(cell: str) -> bool:
    return email_normalize(cell)[1] is None


def _sniff_delimiter(text: str) -> str:
    """Comma or semicolon: the one whose split puts a valid email (or a known header) in a cell
    on more of the first lines; then the one that splits more lines; a tie is a comma."""
    lines = []
    for line in io.StringIO(text, newline=""):
        if line.strip():
            lines.append(line)
            if len(lines) == SNIFF_LINES:
                break
    scores = {}
    for delimiter in DELIMITERS:
        recognized = split = 0
        for row in csv.reader(lines, delimiter=delimiter):
            cells = [_letters(cell) for cell in row]
            if any(_looks_like_email(cell) for cell in row) or any(
                cell in EMAIL_HEADERS for cell in cells
            ):
                recognized += 1
            if len(row) > 1:
                split += 1
        scores[delimiter] = (recognized, split)
    return max(DELIMITERS, key=lambda d: scores[d])  # max keeps the first of equals: comma


def _header_columns(row: list[str]) -> tuple[int, int | None] | None:
    """(email column, name column) if `row` is a header, else None.

    A header has no valid email and names the email or the name column, in any case or order.
    """
    if any(_looks_like_email(cell) for cell in row):
        return None
    cells = [_letters(cell) for cell in row]
    email_col = next((i for i, c in enumerate(cells) if c in EMAIL_HEADERS), None)
    name_col = next((i for i, c in enumerate(cells) if c in NAME_HEADERS), None)
    if email_col is None and name_col is None:
        return None
    if email_col is None:  # only the name is labelled: the email is the first other column
        email_col = 0 if name_col != 0 else 1
    return email_col, name_col


def contacts_csv_parse(data: bytes) -> ParsedContacts:
    """Every row of the file checked and merged; raises CsvFileError for a file-level problem.

    Line numbers are the file's physical lines (1 is the first, the header included), so they
    match what an editor shows, also when a quoted name spans lines or blank lines are skipped.
    Within the file, the last non-empty name given for an email wins.
    """
    text = contacts_csv_decode(data)
    delimiter = _sniff_delimiter(text)
    parsed = ParsedContacts(delimiter=delimiter)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    email_col, name_col = 0, 1
    seen_first = False
    contacts = parsed.contacts
    line = 1
    try:
        for row in reader:
            start, line = line, reader.line_num + 1  # this row's first line; the next row's
            if not any(cell.strip() for cell in row):
                continue  # blank lines (and rows of empty cells) are not rows
            if not seen_first:
                seen_first = True
                columns = _header_columns(row)
                if columns is not None:
                    parsed.has_header = True
                    email_col, name_col = columns
                    continue
            parsed.total_rows += 1
            raw_email = row[email_col] if email_col < len(row) else ""
            email, reason = email_normalize(raw_email)
            if reason:
                parsed.errors.append(RowError(start, reason))
                continue
            name = ""
            if name_col is not None and name_col < len(row):
                name = " ".join(row[name_col].split())[:NAME_MAX_LENGTH]
            if email in contacts:
                parsed.duplicate_rows += 1
                if name:
                    contacts[email] = name
            else:
                contacts[email] = name
    except csv.Error as error:
        raise CsvFileError(
            _("Line %(line)s cannot be read as CSV (%(error)s).")
            % {"line": thousands(line), "error": error}
        ) from None
    if parsed.total_rows == 0:
        raise CsvFileError(
            _("The file has a header row but no contacts.")
            if parsed.has_header
            else _("The file has no rows.")
        )
    return parsed
