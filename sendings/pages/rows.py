"""The sending list's rows: rendered by the row partial, kept in the cache by content.

A row's HTML is a pure function of what it shows (the sending's name, status, counts,
schedule and urgent-cancel ticket), of who looks (can they act), of the time zone and of the
language. The cache key is a digest of exactly those values, of the template file itself and
of the translation catalogs, so a cached row can never be stale: when anything in it changes,
the key changes.

Nothing of the request is in the key: the list URL the row's forms return to (`next`, with
the page's search and filters) is put in after the cache, in place of a marker. So a search
or junk query parameters add no keys, and the cache holds at most a row per sending, role
zone and language. Sent and canceled sendings, most of any list, never
change again; a page of 50 rows then costs one cache round trip instead of 50 renders (about
15 ms on this machine).
"""

import contextlib
import hashlib
import logging
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language
from redis.exceptions import RedisError

from sendings.models import Sending

log = logging.getLogger(__name__)

# What a cache backend raises when its server is down (Redis) or its files are unusable.
CACHE_ERRORS = (RedisError, OSError)
ROW_TEMPLATE = "sendings/sending_list.html#row"
ROW_TTL_SECONDS = 24 * 3600
# Stands for the `next` URL in cached rows. No sending field can contain it: forms and
# PostgreSQL refuse NUL characters.
NEXT_MARKER = "\x00next-url\x00"
# A new release with a changed template or translation gets new keys.
_TEMPLATE_DIGEST = hashlib.blake2b(
    b"".join(
        path.read_bytes()
        for path in [
            Path(settings.BASE_DIR) / "templates/sendings/sending_list.html",
            *sorted(Path(settings.BASE_DIR).glob("locale/*/LC_MESSAGES/django.po")),
        ]
    ),
    digest_size=8,
).hexdigest()


def _key(sending: Sending, context: dict) -> str:
    shown = (
        sending.identifier,
        sending.name,
        sending.status,
        sending.scheduled_at.isoformat() if sending.scheduled_at else "",
        sending.batch_count,
        sending.total_recipients,
        sending.sent_count,
        sending.failed_count,
        sending.canceled_count,  # what the menu offers (unschedule, resend) depends on it
        sending.recipients_purged_at is not None,  # and on whether the list is still kept
        getattr(sending, "ticket_status", None),
        getattr(sending, "ticket_received", None),
        getattr(sending, "ticket_note", None),
        getattr(sending, "ticket_kind", None),
        getattr(sending, "ticket_subject", None),
        context["can_act"],
        timezone.get_current_timezone_name(),
        get_language(),
    )
    digest = hashlib.blake2b(repr(shown).encode(), digest_size=16).hexdigest()
    return f"row:{_TEMPLATE_DIGEST}:{digest}"


def rows_render(
    *, request: HttpRequest, sendings: list[Sending], context: dict
) -> list[SafeString]:
    """Each sending's row HTML, from the cache where possible. Call in the page's time zone."""
    keys = [_key(sending, context) for sending in sendings]
    found = _cached(keys)
    rendered = {}
    rows = []
    next_url = conditional_escape(context["next_url"])
    for sending, key in zip(sendings, keys, strict=True):
        html = found.get(key)
        if html is None:
            html = render_to_string(
                ROW_TEMPLATE, {**context, "sending": sending, "next_url": NEXT_MARKER}, request
            )
            rendered[key] = html
        rows.append(mark_safe(html.replace(NEXT_MARKER, next_url)))
    if rendered:
        _keep(rendered)
    return rows


# The cache is a help: while it is unreachable every row is rendered, and the page still works.
def _cached(keys: list[str]) -> dict[str, str]:
    try:
        return cache.get_many(keys)
    except CACHE_ERRORS as error:
        log.warning("Row cache unreachable (%s): rendering every row", error)
        return {}


def _keep(rendered: dict[str, str]) -> None:
    with contextlib.suppress(*CACHE_ERRORS):
        cache.set_many(rendered, timeout=ROW_TTL_SECONDS)
