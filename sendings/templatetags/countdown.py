"""The "Send now" countdown on the sending's page (see static/js/app.js)."""

from django import template
from django.conf import settings
from django.utils import timezone

register = template.Library()


@register.filter
def undo_seconds_left(sending) -> int | None:
    """Seconds until a still cancelable sending goes out, if that is within UNDO_SECONDS
    (the "Send now" delay); None otherwise. Rounded up: "Sending in 1 s" until it goes."""
    if not sending.can_cancel or sending.scheduled_at is None:
        return None
    left = (sending.scheduled_at - timezone.now()).total_seconds()
    if left <= 0 or left > settings.UNDO_SECONDS:
        return None
    return int(-(-left // 1))
