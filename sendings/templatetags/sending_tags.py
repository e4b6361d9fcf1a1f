from django import template
from django.utils import timezone

register = template.Library()
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@register.filter
def thousands(value) -> str:
    """12000 -> "12,000". (django.contrib.humanize is not installed, and floatformat is slow.)"""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return ""


@register.filter
def percent_of(part, whole) -> int:
    """How many whole percent `part` is of `whole` (0 when there is no whole)."""
    try:
        return min(100, int(part) * 100 // int(whole)) if int(whole) > 0 else 0
    except (TypeError, ValueError):
        return 0


@register.filter
def when(value) -> str:
    """An aware datetime in the active time zone as "1 Jul 2031, 10:00".

    Same output as |date:"j M Y, H:i" at a fraction of its cost (50 rows a page), English only
    like the rest of the interface.
    """
    if not value:
        return ""
    local = timezone.localtime(value)
    return f"{local.day} {MONTHS[local.month - 1]} {local.year}, {local:%H:%M}"
