"""Celery tasks: thin. Each takes ids, and a service or the dispatcher does the work."""

import logging

from celery import shared_task
from django.conf import settings

from batches import delivery, dispatch

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def dispatch_due_batches() -> None:
    report = dispatch.dispatch_due()
    if report.started or report.scheduled:
        log.info("Dispatch: %d batches started, %d due shortly", report.started, report.scheduled)


@shared_task(ignore_result=True)
def start_batch(batch_id: int) -> None:
    """A batch's exact-time start; a no-op if it was started, canceled or deleted meanwhile."""
    dispatch.batch_start_and_deliver(batch_id=batch_id)


@shared_task(
    bind=True,
    ignore_result=True,
    autoretry_for=(delivery.ConnectionLost, OSError),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=None,
)
def deliver_batch(self, batch_id: int) -> None:
    """Deliver a slice of a batch, then requeue itself while work is left."""
    report = delivery.batch_deliver(
        batch_id=batch_id, budget_seconds=settings.DELIVERY_SLICE_SECONDS
    )
    if report.progress is delivery.Progress.MORE:
        dispatch.delivery_enqueue(batch_id=batch_id)
    elif report.progress is delivery.Progress.WAITING:
        dispatch.delivery_enqueue(batch_id=batch_id, eta=report.retry_at)


@shared_task(ignore_result=True)
def recover_deliveries() -> None:
    report = dispatch.deliveries_recover()
    if report.released or report.requeued or report.finished:
        log.warning(
            "Recovery: %d batches had stale claims, %d requeued, %d finished",
            report.released,
            report.requeued,
            report.finished,
        )
