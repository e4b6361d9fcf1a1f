"""The outbox: emails owed after a state change are rows, sent at most once.

A service that changes state calls `notification_owe` inside its transaction: the row commits
with the change or not at all. After the commit a task is queued to send it right away; if the
broker is down or the send fails, the beat task `notifications_send_owed` finds the row (a
partial index on what is owed) and sends it. Either way a sender first claims the row with a
conditional UPDATE (sent_at from NULL to now) and goes on only if that changed one row, so two
senders never both send it. A send that fails gives the row back with a backoff; a process
killed between the claim and the send loses that email rather than sending it twice.
"""

import enum
import logging
from datetime import datetime, timedelta

from celery import signature
from django.db import transaction
from django.utils import timezone

from sendings.outbox.models import Notification
from sendings.outbox.registry import Wait, notification_kind

log = logging.getLogger(__name__)

SEND_TASK = "sendings.outbox.tasks.notification_send_task"
RETRY_BASE_SECONDS = 5
RETRY_MAX_SECONDS = 300
OWED_PER_RUN = 100
# A broker that is down must not hold up the request that changed state: one quick retry.
# (retry=False is no faster: kombu then reconnects with its own backoff, about 6 s.)
PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1}


def notification_owe(*, kind: str, object_id: int) -> Notification:
    """Record that `kind` is owed for `object_id`; queue its sending after commit.

    Call inside the transaction of the state change. The immediate send is best effort: a
    broker that is down leaves the row to the beat task.
    """
    notification = Notification.objects.create(kind=kind, object_id=object_id)
    pk = notification.pk
    transaction.on_commit(
        lambda: signature(SEND_TASK, args=(pk,)).apply_async(retry_policy=PUBLISH_RETRY),
        robust=True,
    )
    return notification


class Sent(enum.Enum):
    SENT = "sent"
    NOTHING = "nothing"  # done: nothing was left to send
    WAIT = "wait"  # the renderer asked to wait; due again later
    FAILED = "failed"  # the send failed; due again after a backoff
    NOT_MINE = "not_mine"  # sent already, claimed by another sender, or not due yet


def _release(pk: int, claimed_at: datetime, **changes) -> None:
    Notification.objects.filter(pk=pk, sent_at=claimed_at).update(sent_at=None, **changes)


def notification_send(*, notification_id: int, now: datetime | None = None) -> tuple[Sent, float]:
    """Send one owed notification if this call claims it. Returns what happened and, for
    WAIT and FAILED, in how many seconds it is due again."""
    now = now or timezone.now()
    claimed = Notification.objects.filter(
        pk=notification_id, sent_at__isnull=True, due_at__lte=now
    ).update(sent_at=now)
    if claimed != 1:
        return Sent.NOT_MINE, 0.0
    notification = Notification.objects.get(pk=notification_id)
    kind = notification_kind(notification.kind)
    try:
        if kind is None:
            raise LookupError(f"no renderer registered for {notification.kind!r}")
        message = kind.render(notification.object_id)
        if isinstance(message, Wait):
            _release(notification_id, now, due_at=now + timedelta(seconds=message.seconds))
            return Sent.WAIT, message.seconds
        if message is not None:
            message.send()
    except Exception as error:  # SMTP down, a renderer's bug: keep it owed, try again later
        delay = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2**notification.attempts)
        _release(
            notification_id,
            now,
            attempts=notification.attempts + 1,
            due_at=now + timedelta(seconds=delay),
            last_error=f"{error.__class__.__name__}: {error}"[:2000],
        )
        log.warning("Notification %s not sent (%s); again in %d s", notification, error, delay)
        return Sent.FAILED, float(delay)
    if message is None:
        return Sent.NOTHING, 0.0
    if kind.sent is not None:
        kind.sent(notification.object_id)
    return Sent.SENT, 0.0


def notifications_send_owed(*, now: datetime | None = None) -> int:
    """Send what is owed and due (the beat task); returns how many went out."""
    now = now or timezone.now()
    owed = list(
        Notification.objects.filter(sent_at__isnull=True, due_at__lte=now)
        .order_by("due_at")
        .values_list("pk", flat=True)[:OWED_PER_RUN]
    )
    sent = 0
    for pk in owed:
        outcome, _ = notification_send(notification_id=pk, now=now)
        sent += outcome is Sent.SENT
    return sent
