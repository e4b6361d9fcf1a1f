from django import template

from support.selectors import is_support

register = template.Library()


@register.filter
def in_support(user) -> bool:
    """Whether the navigation shows "Cancellation requests" (every page, whatever its view)."""
    return is_support(user)


@register.filter
def seconds_span(value) -> str:
    """42 -> "42 s", 185 -> "3 min", 7300 -> "2 h 1 min": a request's age, a time left."""
    if value is None:
        return ""
    seconds = int(value)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"
