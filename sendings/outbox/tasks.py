"""Celery tasks: thin. The outbox service claims, renders and sends."""

import logging

from celery import shared_task

from sendings.outbox import services

log = logging.getLogger(__name__)


@shared_task(bind=True, ignore_result=True)
def notification_send_task(self, notification_id: int) -> None:
    """Send one owed notification now; a renderer that asks to wait gets a retry."""
    outcome, seconds = services.notification_send(notification_id=notification_id)
    if outcome is services.Sent.WAIT:
        # A hair late, so the row is due when it runs; if this retry cannot be queued, the
        # beat task sends it once it is due.
        raise self.retry(countdown=seconds + 0.1, max_retries=None)


@shared_task(ignore_result=True)
def notifications_send_owed_task() -> None:
    """Beat: whatever the immediate attempt did not send (broker down, SMTP refused)."""
    sent = services.notifications_send_owed()
    if sent:
        log.warning("Outbox: %d owed notifications sent by the beat task", sent)
