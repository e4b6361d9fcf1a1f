"""Celery tasks: thin. Each takes ids, and a service or the dispatcher does the work."""

import logging
import time

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

from batches import delivery, dispatch
from batches import services as batch_services

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def dispatch_due_batches() -> None:
    report = dispatch.dispatch_due()
    if report.started or report.scheduled:
        log.info("Dispatch: %d batches started, %d due shortly", report.started, report.scheduled)


@shared_task(ignore_result=True)
def cancel_catch_up(batch_id: int, after_id: int = 0) -> None:
    """A cancel or stop committed: its batch's pending rows become canceled, a slice of
    DELIVERY_SLICE_SECONDS at a time, so no worker is held for long; then it requeues."""
    going_on = batch_services.recipients_cancel_catch_up_slice(
        batch_id=batch_id, after_id=after_id, budget_seconds=settings.DELIVERY_SLICE_SECONDS
    )
    if going_on is not None:
        batch_services.catch_up_enqueue(batch_id=batch_id, after_id=going_on)


@shared_task(ignore_result=True)
def cancel_catch_up_sweep() -> None:
    """Beat: queue the catch-up of canceled batches whose task was lost."""
    queued = batch_services.cancel_catch_up_sweep()
    if queued:
        log.warning("Catch-up of %d stopped batches queued again (their task was lost)",
                    len(queued))  # fmt: skip


@shared_task(ignore_result=True)
def start_batch(batch_id: int) -> None:
    """A batch's exact-time start; a no-op if it was started, canceled or deleted meanwhile."""
    dispatch.batch_start_and_deliver(batch_id=batch_id)


@shared_task(
    bind=True,
    ignore_result=True,
    # Acknowledged when it starts: the lease, not the message, is what recovery goes by, and
    # an unacknowledged message held across a broker restart keeps the worker's prefetch
    # window full, so it would never take another task.
    acks_late=False,
    # The delivery loop retries lost connections itself; this is the last resort.
    autoretry_for=(
        delivery.ConnectionLost,
        OSError,
        OperationalError,
        InterfaceError,
        RedisError,
        BrokerError,
    ),
    retry_backoff=1,
    retry_backoff_max=30,
    max_retries=None,
)
def deliver_batch(self, batch_id: int, lease_id: int | None = None) -> None:
    """Deliver a slice of a batch, then requeue itself (with its lease) while work is left.

    A task queued before leases existed takes one. A task whose lease ended (recovery gave its
    place to another) does nothing. If the broker cannot take the requeue, the task goes on
    delivering here instead: a broker outage does not stop delivery.
    """
    if lease_id is None:
        [lease_id] = batch_services.leases_create(batch_id=batch_id, count=1)
    elif not delivery.with_database(
        lambda: batch_services.lease_renew(lease_id=lease_id), what="taking the lease"
    ):
        return
    while True:
        report = delivery.batch_deliver(
            batch_id=batch_id, budget_seconds=settings.DELIVERY_SLICE_SECONDS, lease_id=lease_id
        )
        if report.progress is delivery.Progress.LEASE_LOST:
            return
        if report.progress not in (delivery.Progress.MORE, delivery.Progress.WAITING):
            delivery.with_database(
                lambda: batch_services.lease_end(lease_id=lease_id), what="ending the lease"
            )
            return
        eta = report.retry_at if report.progress is delivery.Progress.WAITING else None
        if dispatch.delivery_requeue(batch_id=batch_id, lease_id=lease_id, eta=eta):
            return
        if eta is not None:  # nothing to send before eta: wait here a slice at most
            time.sleep(settings.DELIVERY_SLICE_SECONDS)


@shared_task(ignore_result=True)
def recover_deliveries() -> None:
    report = dispatch.deliveries_recover()
    if report.released or report.requeued or report.finished or report.expired:
        log.warning(
            "Recovery: %d batches had stale claims, %d leases ended, %d tasks queued, "
            "%d batches finished",
            report.released,
            report.expired,
            report.requeued,
            report.finished,
        )
