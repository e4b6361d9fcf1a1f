from django import template
from django.utils.safestring import SafeString

from sendings import formatting
from sendings.formatting import thousands

register = template.Library()


# These filters output digits, separators, letters and spaces only: marked safe, so the
# template engine skips escaping them (it is a third of a list page's rendering time).


register.filter(thousands)


@register.filter
def percent_of(part, whole) -> int:
    """How many whole percent `part` is of `whole` (0 when there is no whole)."""
    try:
        return min(100, int(part) * 100 // int(whole)) if int(whole) > 0 else 0
    except (TypeError, ValueError):
        return 0


@register.filter
def when(value) -> SafeString:
    """An aware datetime in the active time zone and language: "1 Jul 2031, 10:00" in English,
    "1 jul 2031, 10:00" in Spanish."""
    return formatting.when(value)


@register.filter
def when_seconds(value) -> SafeString:
    """The same with seconds: "1 Jul 2031, 10:00:05"."""
    return formatting.when(value, seconds=True)
