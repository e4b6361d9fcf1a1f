"""Number formatting shared by templates (the `thousands` filter) and emails."""

from django.utils.safestring import SafeString, mark_safe


def thousands(value) -> SafeString:
    """12000 -> "12,000". (django.contrib.humanize is not installed, and floatformat is slow.)"""
    try:
        return mark_safe(f"{int(value):,}")
    except (TypeError, ValueError):
        return mark_safe("")
