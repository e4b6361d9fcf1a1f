"""The dispatcher: start due batches on time, once, and keep deliveries moving.

Beat runs `dispatch_due_batches` every DISPATCH_TICK_SECONDS. Each tick starts the batches
that are due and schedules the ones due before the next tick for their exact time (a task
with an ETA), so a batch starts within milliseconds of its time rather than up to a tick
late. Starting goes through `batch_start`, which is at most once under the sending's row lock,
so overlapping ticks, duplicate ETA tasks and two beats are harmless.
"""

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import signature
from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

from batches import pausing
from batches import services as batch_services
from batches.models import Batch, BatchStatus, DeliveryLease
from sendings.exceptions import DomainError
from sendings.models import SendingStatus
from sendings.results import Changed

log = logging.getLogger(__name__)

# What publishing raises when the broker is down.
BROKER_ERRORS = (BrokerError, RedisError, OSError)
# Fail fast when the broker is down: the lease and recovery make up for a lost enqueue.
PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1}

# One tick looks at no more than this many batches; the next tick takes the rest.
DUE_PER_TICK = 500
# Enqueued by name: the tasks module imports this one.
START_TASK = "batches.tasks.start_batch"
DELIVER_TASK = "batches.tasks.deliver_batch"


def batches_due(*, until: datetime) -> list[tuple[int, datetime]]:
    """Scheduled batches whose time is at or before `until`, oldest first (batch_due_idx)."""
    return list(
        Batch.objects.filter(status=BatchStatus.SCHEDULED, scheduled_at__lte=until)
        # A paused sending's later batches wait for support (batch_start refuses them too).
        .exclude(sending__status=SendingStatus.PAUSED)
        .order_by("scheduled_at", "pk")
        .values_list("pk", "scheduled_at")[:DUE_PER_TICK]
    )


@dataclass(frozen=True)
class TickReport:
    started: int
    scheduled: int


def dispatch_due(*, now: datetime | None = None) -> TickReport:
    """Start every due batch; give the ones due before the next tick an exact-time task."""
    now = now or timezone.now()
    horizon = now + timedelta(seconds=settings.DISPATCH_TICK_SECONDS)
    started = scheduled = 0
    for batch_id, scheduled_at in batches_due(until=horizon):
        if scheduled_at <= now:
            started += batch_start_and_deliver(batch_id=batch_id, now=now)
        else:
            signature(START_TASK, args=(batch_id,)).apply_async(eta=scheduled_at)
            scheduled += 1
    return TickReport(started=started, scheduled=scheduled)


def batch_start_and_deliver(*, batch_id: int, now: datetime | None = None) -> bool:
    """Start a due batch (at most once) and, after that commits, put workers on it."""
    if not batch_services.batch_start(batch_id=batch_id, now=now):
        return False
    transaction.on_commit(
        lambda: delivery_enqueue(batch_id=batch_id, workers=settings.DELIVERY_PARALLELISM)
    )
    return True


def batch_resume_and_deliver(*, batch_id: int, actor) -> Changed[Batch]:
    """Resume a paused batch (support) and, after that commits, put workers on it again.

    Call inside the caller's transaction: the workers are queued after the outer commit. If
    the broker cannot take them, recovery gives the batch its workers within a round.
    """
    result = pausing.batch_resume(batch_id=batch_id, actor=actor)
    if result.changed:
        transaction.on_commit(
            lambda: delivery_enqueue(batch_id=batch_id, workers=settings.DELIVERY_PARALLELISM),
            robust=True,
        )
    return result


def delivery_enqueue(*, batch_id: int, workers: int = 1) -> int:
    """Queue `workers` delivery tasks for a batch, each with a lease of its own; each claims
    its own chunks. Returns how many the broker took: a task it did not take loses its lease
    at once, so the next recovery round queues it again."""
    queued = 0
    for lease_id in batch_services.leases_create(batch_id=batch_id, count=workers):
        try:
            signature(DELIVER_TASK, args=(batch_id, lease_id)).apply_async(
                retry_policy=PUBLISH_RETRY
            )
        except BROKER_ERRORS as error:
            log.warning("Delivery of batch %s not queued (%s); recovery will", batch_id, error)
            batch_services.lease_end(lease_id=lease_id)
        else:
            queued += 1
    return queued


def delivery_requeue(*, batch_id: int, lease_id: int, eta: datetime | None = None) -> bool:
    """Queue a delivery task's next slice, with its lease (renewed until `eta` if it waits).
    False if the broker cannot take it: the caller carries on itself."""
    if eta is not None:
        batch_services.lease_renew(lease_id=lease_id, until=eta)
    try:
        signature(DELIVER_TASK, args=(batch_id, lease_id)).apply_async(
            eta=eta, retry_policy=PUBLISH_RETRY
        )
    except BROKER_ERRORS as error:
        log.warning("Batch %s: next slice not queued (%s); delivering on here", batch_id, error)
        return False
    return True


@dataclass(frozen=True)
class RecoveryReport:
    released: int
    requeued: int
    finished: int
    expired: int = 0


def deliveries_recover(*, now: datetime | None = None) -> RecoveryReport:
    """Repair what a crash or an outage leaves behind, for every batch that is sending.

    Leases not renewed for DELIVERY_LEASE_SECONDS end and their claims go back to the queue
    (a killed worker, a task lost with the broker); claims no lease holds go back after
    CLAIM_TIMEOUT_SECONDS. A batch with deliverable recipients and fewer than
    DELIVERY_PARALLELISM leases gets tasks for the missing ones, so full parallelism comes
    back after any fault; a batch with nobody pending left (its last worker died before
    finishing it) is finished.
    """
    now = now or timezone.now()
    released = batch_services.recipients_release_stale(now=now)
    expired = batch_services.leases_expire(now=now)
    requeued = finished = 0
    # One query each for every batch sending, not three per batch: the counters say how
    # many are waiting (exact, moved with the rows), the claims index how many are held.
    sending = list(
        Batch.objects.filter(status=BatchStatus.SENDING)
        .order_by("pk")
        .values_list("pk", "recipient_count", "sent_count", "failed_count", "canceled_count")
    )
    batch_ids = [row[0] for row in sending]
    leases = dict(
        DeliveryLease.objects.filter(batch_id__in=batch_ids)
        .order_by()
        .values("batch_id")
        .annotate(n=Count("pk"))
        .values_list("batch_id", "n")
    )
    held = batch_services.claims_out(batch_ids=batch_ids)
    for batch_id, total, sent, failed, canceled in sending:
        waiting = total - sent - failed - canceled
        if waiting <= 0:
            # DomainError: a recipient came back meanwhile; the next round looks again.
            with contextlib.suppress(DomainError):
                finished += batch_services.batch_finish(batch_id=batch_id)
            continue
        missing = settings.DELIVERY_PARALLELISM - leases.get(batch_id, 0)
        if missing > 0 and waiting > held.get(batch_id, 0):
            requeued += delivery_enqueue(batch_id=batch_id, workers=missing)
    return RecoveryReport(
        released=len(released), requeued=requeued, finished=finished, expired=len(expired)
    )
