"""Numbers and dates in the active language, shared by templates (the `thousands` and `when`
filters) and emails: "12,000" and "1 Jul 2031, 10:00" in English, "12.000" and
"1 jul 2031, 10:00" in Spanish (the separators come from config/formats/<language>/)."""

from django.utils import formats, timezone
from django.utils.dates import MONTHS, MONTHS_3
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language, pgettext


def thousands(value) -> SafeString:
    """12000 -> "12,000" ("12.000" in Spanish). (django.contrib.humanize is not installed,
    and floatformat is slow.)"""
    try:
        text = f"{int(value):,}"
    except (TypeError, ValueError):
        return mark_safe("")
    separator = formats.get_format("THOUSAND_SEPARATOR")
    return mark_safe(text if separator == "," else text.replace(",", separator))


def month_abbr(month: int) -> str:
    """ "Dec" in English, "dic" in Spanish: as the languages write them in dates."""
    name = str(MONTHS_3[month])  # lower case, translated: "dec", "dic"
    return name.title() if (get_language() or "en").startswith("en") else name


def month_name(month: int) -> str:
    """ "December" in English, "diciembre" in Spanish."""
    return str(MONTHS[month])


def long_date(day) -> str:
    """A date written out: "1 December 2026" in English, "1 de diciembre de 2026" in Spanish."""
    # Translators: a date written out in a sentence; day, month name and year.
    template = pgettext("long date", "%(day)s %(month)s %(year)s")
    return template % {"day": day.day, "month": month_name(day.month), "year": day.year}


def when(value, seconds: bool = False) -> SafeString:
    """An aware datetime in the active time zone as "1 Jul 2031, 10:00" ("1 jul 2031, 10:00"),
    with ":05" seconds on demand. The output of |date:"SHORT_DATETIME_FORMAT" (and "j M Y,
    H:i:s") at a fraction of its cost (50 rows a page)."""
    if not value:
        return mark_safe("")
    local = timezone.localtime(value)
    clock = f"{local:%H:%M:%S}" if seconds else f"{local:%H:%M}"
    return mark_safe(f"{local.day} {month_abbr(local.month)} {local.year}, {clock}")
