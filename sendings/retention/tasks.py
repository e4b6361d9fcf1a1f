"""Celery tasks: thin. The retention service decides what is due."""

import logging

from celery import shared_task

from sendings.retention import services

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def recipients_purge_expired_task() -> None:
    """Beat: remove the recipient rows of sendings past RECIPIENT_RETENTION_DAYS."""
    report = services.recipients_purge_expired()
    if report.marked or report.deleted:
        log.info(
            "Retention: %d sendings marked, %d recipient rows deleted, %d sendings done",
            report.marked,
            report.deleted,
            report.finished,
        )
