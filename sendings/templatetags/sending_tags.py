from django import template
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from sendings.formatting import thousands

register = template.Library()
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# These filters output digits, commas, letters and spaces only: marked safe, so the
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
    """An aware datetime in the active time zone as "1 Jul 2031, 10:00".

    Same output as |date:"j M Y, H:i" at a fraction of its cost (50 rows a page), English only
    like the rest of the interface.
    """
    if not value:
        return mark_safe("")
    local = timezone.localtime(value)
    return mark_safe(f"{local.day} {MONTHS[local.month - 1]} {local.year}, {local:%H:%M}")
