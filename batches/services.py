"""Batch and recipient state changes. Each locks the sending row first, then the batch.

Over 400 lines on purpose: every write to batches and recipients is here (but the automatic
pause, `batches.pausing`, and an unsubscribe's cancellations, `batches.unsubscribing`), so the
lock order and the counters that must move together (recipient rows, batch and sending
counts) can be checked in one read.
"""

import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import signature
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from batches.halt import halt_announce, halt_pending
from batches.models import (
    CANCEL_REASON_UNSUBSCRIBED,
    Batch,
    BatchStatus,
    DeliveryLease,
    Recipient,
    RecipientStatus,
)
from batches.pausing import pause_if_failing
from sendings.exceptions import DomainError
from sendings.models import Contact, Sending, SendingEvent
from sendings.results import Changed
from sendings.transitions import (
    batch_lock,
    event_record,
    sending_lock,
    sending_status_refresh,
)

log = logging.getLogger(__name__)


def batch_close_locked(*, sending: Sending, batch: Batch, actor, now: datetime) -> int:
    """Cancel a scheduled or sending batch whose sending row and batch row are locked.

    Every recipient still pending counts as canceled from this commit on; returns how many.
    Its cost does not depend on the batch's size: the counters take the pending ones (derived
    from the counters, no row scan), and the rows catch up after the commit, in chunks, by
    `recipients_cancel_catch_up` (a task enqueued after commit, and the periodic sweep if that
    task is lost). Until then a pending row of a canceled batch counts as canceled
    (`batches.models.counted_as_q`). Recipients already handed to SMTP stay as they are (the
    delivery recorder turns one into sent if the server accepted it after all, so the Sent
    column never lies). A recipient in flight keeps its claim until its worker records or
    releases it: that is how `inflight_count` knows when the numbers of a stop are final.
    """
    if batch.status == BatchStatus.SENDING:
        halt_pending(batch.pk)  # workers wait until the stop commits
    canceled = batch.pending_count
    batch.status = BatchStatus.CANCELED
    batch.canceled_count += canceled
    batch.canceled_at = now
    batch.canceled_by = actor
    batch.finished_at = now
    batch.rows_catching_up = canceled > 0
    batch.save(
        update_fields=[
            "status",
            "canceled_count",
            "canceled_at",
            "canceled_by",
            "finished_at",
            "rows_catching_up",
        ]
    )
    Sending.objects.filter(pk=sending.pk).update(canceled_count=F("canceled_count") + canceled)
    batch_id = batch.pk
    # Best effort (Redis may be down): workers also read the status at their next record.
    transaction.on_commit(lambda: halt_announce(batch_id), robust=True)
    if canceled:
        # Best effort too: the periodic sweep catches the rows up if this task is lost.
        transaction.on_commit(lambda: catch_up_enqueue(batch_id=batch_id), robust=True)
    return canceled


CATCH_UP_TASK = "batches.tasks.cancel_catch_up"
CATCH_UP_PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1}


def catch_up_enqueue(*, batch_id: int, after_id: int = 0) -> bool:
    """Queue (a slice of) a canceled batch's catch-up; False if the broker would not take it
    (beat's sweep queues it again later)."""
    try:
        signature(CATCH_UP_TASK, args=(batch_id, after_id)).apply_async(
            retry_policy=CATCH_UP_PUBLISH_RETRY
        )
    except Exception as error:  # any broker failure: the sweep is the backstop
        log.warning("Catch-up of batch %s not queued (%s); the sweep will", batch_id, error)
        return False
    return True


def recipients_cancel_catch_up_slice(
    *, batch_id: int, after_id: int = 0, budget_seconds: float | None = None
) -> int | None:
    """Turn pending rows of a canceled batch into canceled rows, for up to `budget_seconds`.

    Returns the id to go on after, or None when the batch caught up (its `rows_catching_up`
    is cleared) or is not canceled. No counter moves: the batch's and the sending's canceled
    counts took these recipients when the cancel committed. Walks the pending index
    (batch, id) upwards from `after_id`, CANCEL_CHUNK_SIZE rows per short transaction, each
    chunk the next id range (half the cost of the same rows by a list of ids). No lock on the
    sending: nothing else writes pending rows of a canceled batch but the delivery recorder,
    and its updates and these re-check the status row by row. Each chunk renews
    `catch_up_renewed_at`, so the sweep leaves a live catch-up alone. Idempotent, safe to run
    twice at once and to run again after a crash half-way. A claimed row keeps its claim: its
    worker's record or release ends it.
    """
    chunk = settings.CANCEL_CHUNK_SIZE
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    batch = Batch.objects.filter(pk=batch_id, status=BatchStatus.CANCELED)
    if not batch.exists():
        return None
    pending = Recipient.objects.filter(batch_id=batch_id, status=RecipientStatus.PENDING)
    while deadline is None or time.monotonic() < deadline:
        ids = list(
            pending.filter(pk__gt=after_id).order_by("pk").values_list("pk", flat=True)[:chunk]
        )
        if not ids:
            break
        pending.filter(pk__gte=ids[0], pk__lte=ids[-1]).update(status=RecipientStatus.CANCELED)
        batch.update(catch_up_renewed_at=Now())
        after_id = ids[-1]
    else:
        return after_id
    # Every pending row was past after_id at some point of the walk, and none is created in
    # a canceled batch; a last look from the start makes sure before the flag goes.
    if pending.exists():
        return 0
    batch.filter(rows_catching_up=True).update(rows_catching_up=False)
    return None


def recipients_cancel_catch_up(*, batch_id: int) -> int:
    """Catch a canceled batch's rows up now, whole (a resend's confirm, operators, tests);
    returns how many rows it canceled."""
    pending = Recipient.objects.filter(batch_id=batch_id, status=RecipientStatus.PENDING)
    before = pending.count()
    after_id = 0
    while after_id is not None:
        after_id = recipients_cancel_catch_up_slice(batch_id=batch_id, after_id=after_id)
    return before - pending.count()


def recipients_cancel_catch_up_all(*, older_than_seconds: float = 0) -> int:
    """Catch up now every canceled batch still catching up and canceled more than
    `older_than_seconds` ago; returns how many rows it canceled."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    batch_ids = list(
        Batch.objects.filter(rows_catching_up=True, canceled_at__lte=cutoff)
        .order_by("canceled_at")
        .values_list("pk", flat=True)
    )
    return sum(recipients_cancel_catch_up(batch_id=batch_id) for batch_id in batch_ids)


def cancel_catch_up_sweep(*, now: datetime | None = None) -> list[int]:
    """Beat's sweep: queue a catch-up for every canceled batch still catching up whose own
    task was lost (a broker outage at the stop, a worker killed half-way): canceled more than
    RECOVERY_INTERVAL_SECONDS ago, and not renewed by a live catch-up for two slices.
    Returns their ids."""
    now = now or timezone.now()
    quiet = now - timedelta(seconds=2 * settings.DELIVERY_SLICE_SECONDS)
    batch_ids = list(
        Batch.objects.filter(
            rows_catching_up=True,
            canceled_at__lte=now - timedelta(seconds=settings.RECOVERY_INTERVAL_SECONDS),
        )
        .filter(Q(catch_up_renewed_at__isnull=True) | Q(catch_up_renewed_at__lt=quiet))
        .order_by("canceled_at")
        .values_list("pk", flat=True)
    )
    for batch_id in batch_ids:
        catch_up_enqueue(batch_id=batch_id)
    return batch_ids


def rows_caught_up(*, sending_id: int) -> bool:
    """Whether no batch of the sending still has pending rows counted as canceled."""
    return not Batch.objects.filter(sending_id=sending_id, rows_catching_up=True).exists()


def _batch_in(batches: list[Batch], batch_id: int) -> Batch:
    batch = next((b for b in batches if b.pk == batch_id), None)
    if batch is None:  # the sending was unscheduled back to a draft: its batches are gone
        raise DomainError(
            _("This batch no longer exists: the sending is a draft again."), code="draft"
        )
    return batch


@dataclass(frozen=True)
class Closed:
    """What `batches_close` did: the locked sending and batches, and how many it canceled."""

    sending: Sending
    batches: list[Batch]
    closed: list[Batch]
    canceled: int

    @property
    def changed(self) -> bool:
        return bool(self.closed)


def batches_close(
    *,
    sending_id: int,
    actor,
    pick: Callable[[Sending, list[Batch]], list[Batch]],
    kind: str,
    describe: Callable[[list[Batch], list[Batch], int], str],
    event_batch: Callable[[list[Batch]], Batch | None] = lambda closed: None,
) -> Closed:
    """The one skeleton of every cancel and stop: lock, pick (or refuse), close, refresh, record.

    Locks the sending, then its batches by number. `pick` sees them locked and returns the
    batches to close, an empty list when there is nothing left to do (a repeated click: a
    no-op, nothing recorded), or raises a DomainError to refuse. Each picked batch is closed
    by `batch_close_locked`, the sending's status is recomputed, and one SendingEvent says
    `describe(batches, closed, canceled)`.
    """
    with transaction.atomic():
        sending, batches = sending_lock(sending_id)
        closed = pick(sending, batches)
        if not closed:
            return Closed(sending=sending, batches=batches, closed=[], canceled=0)
        now = timezone.now()
        canceled = sum(
            batch_close_locked(sending=sending, batch=batch, actor=actor, now=now)
            for batch in closed
        )
        sending_status_refresh(sending=sending, batches=batches, now=now, actor=actor)
        event_record(
            sending=sending,
            kind=kind,
            actor=actor,
            batch=event_batch(closed),
            message=describe(batches, closed, canceled),
        )
    return Closed(sending=sending, batches=batches, closed=closed, canceled=canceled)


def _batch_refusal(sending: Sending, batch: Batch) -> DomainError:
    if batch.status == BatchStatus.SENDING:
        return DomainError(
            _(
                "Batch %(number)s of “%(name)s” is being sent right now and can no longer be "
                "canceled here. Request an urgent cancellation from support."
            )
            % {"number": batch.number, "name": sending.name},
            code="in_progress",
        )
    return DomainError(
        _("Batch %(number)s of “%(name)s” has already been sent.")
        % {"number": batch.number, "name": sending.name},
        code="already_sent",
    )


def batch_cancel(*, batch: Batch, actor) -> Changed[Batch]:
    """Cancel one scheduled batch. Nobody in it receives the message.

    Locks the sending, then its batches. Canceling a canceled batch is a no-op
    (`changed` False); a batch that has started or finished is refused with a DomainError.
    """
    batch_id = batch.pk

    def pick(sending: Sending, batches: list[Batch]) -> list[Batch]:
        locked = _batch_in(batches, batch_id)
        if locked.status == BatchStatus.CANCELED:
            return []
        if not locked.can_cancel:
            raise _batch_refusal(sending, locked)
        return [locked]

    closed = batches_close(
        sending_id=batch.sending_id,
        actor=actor,
        pick=pick,
        kind=SendingEvent.Kind.BATCH_CANCELED,
        describe=lambda batches, closed, canceled: (
            ngettext(
                "Batch %(number)s canceled; %(count)s contact will not receive it.",
                "Batch %(number)s canceled; %(count)s contacts will not receive it.",
                canceled,
            )
            % {"number": closed[0].number, "count": canceled}
        ),
        event_batch=lambda closed: closed[0],
    )
    return Changed(_batch_in(closed.batches, batch_id), closed.changed, closed.canceled)


def batch_start(*, batch_id: int, now: datetime | None = None) -> bool:
    """Move a due scheduled batch to sending. True only for the one call that started it.

    At most once, whoever calls it and however often: the status check happens under the
    sending's row lock, so two beats or two workers serialize and the second sees `sending`.
    A canceled, started, finished, not-yet-due or deleted batch returns False.
    """
    now = now or timezone.now()
    with transaction.atomic():
        try:
            sending, batches = sending_lock(
                Batch.objects.values_list("sending_id", flat=True).get(pk=batch_id)
            )
        except Batch.DoesNotExist:
            return False
        # Gone while we waited for the lock: the sending was unscheduled back to a draft.
        batch = next((b for b in batches if b.pk == batch_id), None)
        if batch is None or batch.status != BatchStatus.SCHEDULED or batch.scheduled_at > now:
            return False
        if any(other.status == BatchStatus.PAUSED for other in batches):
            return False  # support decides first; the dispatcher tries again once resumed
        batch.status = BatchStatus.SENDING
        batch.started_at = now
        batch.save(update_fields=["status", "started_at"])
        left_out = _unsubscribed_leave_out(sending=sending, batch=batch)
        sending_status_refresh(sending=sending, batches=batches, now=now)
        message = ngettext(
            "Batch %(number)s started with %(count)s contact.",
            "Batch %(number)s started with %(count)s contacts.",
            batch.recipient_count,
        ) % {"number": batch.number, "count": batch.recipient_count}
        if left_out:
            message += " " + ngettext(
                "%(count)s who unsubscribed since the confirmation was left out.",
                "%(count)s who unsubscribed since the confirmation were left out.",
                left_out,
            ) % {"count": left_out}
        event_record(
            sending=sending, kind=SendingEvent.Kind.BATCH_STARTED, batch=batch, message=message
        )
    return True


def _unsubscribed_leave_out(*, sending: Sending, batch: Batch) -> int:
    """Cancel the batch's recipients whose contact unsubscribed after the snapshot was taken.

    The audience was fixed at confirmation; someone who unsubscribed since must not get the
    message days later. Only contacts unsubscribed since the confirmation can be in the
    snapshot: usually none, found through a small partial index, so a start costs nothing
    more. Counted as canceled, so the counts still add up.
    """
    since = Q(unsubscribed_at__gte=sending.confirmed_at) | Q(unsubscribed_at__isnull=True)
    contact_ids = list(
        Contact.objects.filter(since, subaccount_id=sending.subaccount_id, unsubscribed=True)
        .values_list("pk", flat=True)
        .order_by()
    )
    if not contact_ids:
        return 0
    left_out = Recipient.objects.filter(
        batch=batch, status=RecipientStatus.PENDING, contact_id__in=contact_ids
    ).update(status=RecipientStatus.CANCELED, cancel_reason=CANCEL_REASON_UNSUBSCRIBED)
    if left_out:
        counter = {"canceled_count": F("canceled_count") + left_out}
        Batch.objects.filter(pk=batch.pk).update(**counter)
        Sending.objects.filter(pk=sending.pk).update(**counter)
    return left_out


def batch_finish(*, batch_id: int) -> bool:
    """Mark a sending batch as sent once nobody in it is pending. True if this call did it.

    A batch that is no longer sending (finished, or stopped meanwhile) returns False.
    A batch with recipients still pending is refused with a DomainError.
    """
    with transaction.atomic():
        sending, batch = batch_lock(batch_id)
        if batch.status != BatchStatus.SENDING:
            return False
        pending = Recipient.objects.filter(batch=batch, status=RecipientStatus.PENDING).count()
        if pending:
            raise DomainError(
                _("Batch %(number)s still has %(count)s contacts waiting.")
                % {"number": batch.number, "count": pending},
                code="pending",
            )
        now = timezone.now()
        batch.status = BatchStatus.SENT
        batch.finished_at = now
        batch.save(update_fields=["status", "finished_at"])
        batches = list(Batch.objects.filter(sending=sending).order_by("number"))
        sending_status_refresh(sending=sending, batches=batches, now=now)
        event_record(
            sending=sending,
            kind=SendingEvent.Kind.BATCH_FINISHED,
            batch=batch,
            message=(
                _("Batch %(number)s finished: %(sent)s sent, %(failed)s failed.")
                % {"number": batch.number, "sent": batch.sent_count, "failed": batch.failed_count}
            ),
        )
    return True


@dataclass(frozen=True)
class DeliveryRecord:
    sent: int
    failed: int
    retrying: int = 0
    batch_status: str = ""  # as it is after this record: a worker stops unless "sending"
    lease_held: bool = True  # False: recovery ended the worker's lease; it must stop sending
    # The batch's canceled count after this record: when it grows while the batch is
    # sending, someone unsubscribed, and the worker skips them in the chunk it holds.
    canceled_count: int = 0


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff after the n-th rejection: base, 2 x base, 4 x base, ..."""
    return timedelta(seconds=settings.EMAIL_RETRY_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0))


def recipients_record_results(
    *,
    batch_id: int,
    sent: Collection[int],
    failed: Mapping[int, str] | None = None,
    rejected: Mapping[int, str] | None = None,
    bounced: Mapping[int, str] | None = None,
    lease_id: int | None = None,
    now: datetime | None = None,
) -> DeliveryRecord:
    """Record what the SMTP server did with recipients of one batch, counters included.

    `sent` are recipient ids the server accepted; `failed` maps ids to a final error;
    `rejected` maps ids to an error worth retrying: the recipient is released for another
    attempt after a backoff, or fails for good at its EMAIL_MAX_ATTEMPTS-th attempt;
    `bounced` maps ids to a permanent rejection of the address: the recipient fails and its
    contact is marked bounced, so later sendings leave it out.
    A recipient canceled by a stop while its message was already in flight is recorded as
    sent after all: the Sent column counts what the server accepted. Recording a recipient
    twice changes nothing. Locks the sending, then the batch, like every other service.
    With `lease_id` the worker's lease is renewed in the same transaction; the record says
    whether it still held it.
    """
    bounced = dict(bounced or {})
    failed = {**(failed or {}), **bounced}
    rejected = rejected or {}
    now = now or timezone.now()
    open_statuses = [RecipientStatus.PENDING, RecipientStatus.CANCELED]
    with transaction.atomic():
        sending, batch = batch_lock(batch_id)
        lease_held = lease_id is None or lease_renew(lease_id=lease_id)
        retrying = 0
        # Canceled batch: its pending rows count as canceled already (the deferred cancel).
        stopped_batch = batch.status == BatchStatus.CANCELED
        if rejected:
            attempts = (
                {}
                if stopped_batch
                else dict(
                    Recipient.objects.filter(
                        batch=batch, pk__in=list(rejected), status=RecipientStatus.PENDING
                    ).values_list("pk", "attempts")
                )
            )
            stopped = [pk for pk in rejected if pk not in attempts]
            if stopped:  # canceled by a stop meanwhile: it is canceled, its claim ends
                Recipient.objects.filter(
                    batch=batch, pk__in=stopped, status__in=open_statuses
                ).update(status=RecipientStatus.CANCELED, claimed_at=None, claimed_by=None)
            for recipient_id, error in rejected.items():
                if recipient_id not in attempts:
                    continue
                tried = attempts[recipient_id] + 1
                if tried >= settings.EMAIL_MAX_ATTEMPTS:
                    failed[recipient_id] = error
                    continue
                Recipient.objects.filter(pk=recipient_id).update(
                    attempts=tried,
                    claimed_at=None,
                    claimed_by=None,
                    next_attempt_at=now + retry_delay(tried),
                    last_error=error[:2000],
                )
                retrying += 1
        moved = {RecipientStatus.PENDING: 0, RecipientStatus.CANCELED: 0}
        sent_total = 0
        # A stop or cancel cancels whole batches; an unsubscribe cancels single recipients
        # (counted in canceled_count). A batch with neither has no canceled recipient that
        # was sent after all, so the second UPDATE is saved.
        statuses = open_statuses if batch.canceled_count else open_statuses[:1]
        for status in statuses if sent else ():
            count = Recipient.objects.filter(batch=batch, pk__in=sent, status=status).update(
                status=RecipientStatus.SENT,
                sent_at=now,
                attempts=F("attempts") + 1,
                claimed_at=None,
                claimed_by=None,
                last_error="",
                cancel_reason="",
            )
            moved[status] += count
            sent_total += count
        failed_total = 0
        for recipient_id, error in failed.items():
            previous = (
                Recipient.objects.filter(batch=batch, pk=recipient_id, status__in=open_statuses)
                .values_list("status", flat=True)
                .first()
            )
            if previous is None:
                continue
            Recipient.objects.filter(pk=recipient_id).update(
                status=RecipientStatus.FAILED,
                attempts=F("attempts") + 1,
                claimed_at=None,
                claimed_by=None,
                last_error=error[:2000],
                cancel_reason="",
            )
            moved[previous] += 1
            failed_total += 1
        uncanceled = moved[RecipientStatus.CANCELED]
        if stopped_batch:  # a pending row of a canceled batch was counted as canceled
            uncanceled += moved[RecipientStatus.PENDING]
        counters = {
            "sent_count": F("sent_count") + sent_total,
            "failed_count": F("failed_count") + failed_total,
            "canceled_count": F("canceled_count") - uncanceled,
        }
        if sent_total or failed_total:
            Sending.objects.filter(pk=sending.pk).update(**counters)
            Batch.objects.filter(pk=batch.pk).update(**counters)
        if bounced:
            _contacts_bounce(bounced, now=now)
        if failed_total and batch.status == BatchStatus.SENDING:
            pause_if_failing(sending=sending, batch=batch, now=now)
    return DeliveryRecord(
        sent=sent_total,
        failed=failed_total,
        retrying=retrying,
        batch_status=batch.status,
        lease_held=lease_held,
        canceled_count=batch.canceled_count - uncanceled,
    )


def _contacts_bounce(bounced: Mapping[int, str], *, now: datetime) -> None:
    """Mark the contacts of these recipients bounced, with the server's answer.

    Runs last in the record's transaction (after the sending and batch locks); a contact
    bounced before keeps its first answer and time.
    """
    contacts = dict(
        Recipient.objects.filter(pk__in=list(bounced), contact_id__isnull=False).values_list(
            "contact_id", "pk"
        )
    )
    for contact_id, recipient_id in sorted(contacts.items()):
        Contact.objects.filter(pk=contact_id, bounced_at__isnull=True).update(
            bounced_at=now, bounce_reason=bounced[recipient_id][:500]
        )


@dataclass(frozen=True)
class Claim:
    """A recipient a worker holds until it records the outcome (or the claim goes stale)."""

    id: int
    email: str
    name: str
    contact_id: int | None = None


def recipients_claim(
    *,
    batch_id: int,
    limit: int,
    after_id: int = 0,
    lease_id: int | None = None,
    now: datetime | None = None,
) -> list[Claim]:
    """Claim up to `limit` deliverable recipients of a batch that is sending, in id order.

    Rows other workers are claiming right now are skipped (SKIP LOCKED), and a claim commits
    before any message goes out, so no SMTP call happens inside a transaction that could
    roll back. A batch that is not sending (canceled, stopped, finished) yields nothing.
    Recipients waiting for a retry are claimable once their backoff has passed.
    `after_id` lets a worker start past the ids it already claimed: the pending index keeps
    entries of delivered rows until vacuum, and walking them on every claim costs more than
    the claim itself. A worker that finds nothing past `after_id` asks again from the start.
    With `lease_id` the claims are recorded as that lease's, which is renewed; a lease that
    ended (recovery took it from a worker it thought dead) claims nothing.
    """
    now = now or timezone.now()
    with transaction.atomic():
        if not Batch.objects.filter(pk=batch_id, status=BatchStatus.SENDING).exists():
            return []
        if lease_id is not None and not lease_renew(lease_id=lease_id):
            return []
        rows = list(
            Recipient.objects.filter(
                batch_id=batch_id,
                status=RecipientStatus.PENDING,
                claimed_at__isnull=True,
                pk__gt=after_id,
            )
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .order_by("id")
            .select_for_update(skip_locked=True)
            .values_list("id", "email", "name", "contact_id")[:limit]
        )
        if rows:
            Recipient.objects.filter(pk__in=[row[0] for row in rows]).update(
                claimed_at=now, claimed_by=lease_id
            )
    return [Claim(*row) for row in rows]


def recipients_release(*, batch_id: int, ids: Collection[int], lease_id: int | None = None) -> int:
    """Give claimed recipients back unsent (a dropped connection, a stop), without counting an
    attempt. Canceled ones stay canceled; their claim ends, so the stop's numbers are final.
    With `lease_id`, only claims that lease still holds are given back."""
    if not ids:
        return 0
    held = Recipient.objects.filter(
        batch_id=batch_id,
        pk__in=list(ids),
        status__in=[RecipientStatus.PENDING, RecipientStatus.CANCELED],
        claimed_at__isnull=False,
    )
    if lease_id is not None:
        held = held.filter(claimed_by=lease_id)
    return held.update(claimed_at=None, claimed_by=None)


def inflight_count(*, sending_id: int, now: datetime | None = None) -> int:
    """Messages of a stopped sending that a worker may still be handing to SMTP.

    They were claimed before the stop committed and are not recorded yet. Claims older than
    CLAIM_TIMEOUT_SECONDS belong to a dead worker and are not waited for. Cheap once the
    stop's rows caught up (`rows_caught_up`): then it reads the in-flight index only.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.CLAIM_TIMEOUT_SECONDS)
    return Recipient.objects.filter(
        batch__in=Batch.objects.filter(sending_id=sending_id, status=BatchStatus.CANCELED),
        # Pending ones too: the rows of a stop catch up after it committed.
        status__in=[RecipientStatus.CANCELED, RecipientStatus.PENDING],
        claimed_at__gte=cutoff,
    ).count()


def recipients_release_stale(*, now: datetime | None = None) -> set[int]:
    """Release claims that no live lease holds and that are older than CLAIM_TIMEOUT_SECONDS
    (a worker died mid-chunk; claims with a lease come back when the lease ends instead).

    Returns the ids of the batches that got recipients back, so delivery can be re-enqueued.
    Only batches that are sending are looked at. Two statements over `recipient_claim_age_idx`,
    which holds only the claims out right now: the cost does not depend on how many
    recipients are waiting, nor on how many batches are sending.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.CLAIM_TIMEOUT_SECONDS)
    stale = (
        Recipient.objects.filter(
            status=RecipientStatus.PENDING,
            claimed_at__lt=cutoff,
            batch_id__in=Batch.objects.filter(status=BatchStatus.SENDING).values("pk"),
        )
        # A claim of a lease still alive is that task's: it comes back when the lease ends.
        .exclude(
            Exists(
                DeliveryLease.objects.filter(
                    pk=OuterRef("claimed_by"), batch_id=OuterRef("batch_id")
                )
            )
        )
        .order_by()
    )
    rows = list(stale.values_list("pk", "batch_id"))
    if not rows:
        return set()
    # The same conditions again: a claim recorded or renewed meanwhile is not touched.
    stale.filter(pk__in=[pk for pk, _ in rows]).update(claimed_at=None, claimed_by=None)
    return {batch_id for _, batch_id in rows}


def claims_out(*, batch_ids: Collection[int]) -> dict[int, int]:
    """How many waiting recipients of each batch a worker holds right now (one indexed
    query over the claims out, `recipient_claim_age_idx`)."""
    return dict(
        Recipient.objects.filter(
            batch_id__in=list(batch_ids),
            status=RecipientStatus.PENDING,
            claimed_at__isnull=False,
        )
        .order_by()
        .values("batch_id")
        .annotate(n=Count("pk"))
        .values_list("batch_id", "n")
    )


# --- Delivery leases: one per delivery task in circulation (batches.models.DeliveryLease) ---


def leases_create(*, batch_id: int, count: int) -> list[int]:
    """Leases for `count` delivery tasks about to be queued for a batch; returns their ids."""
    now = timezone.now()
    leases = DeliveryLease.objects.bulk_create(
        [DeliveryLease(batch_id=batch_id, renewed_at=now) for _ in range(count)]
    )
    return [lease.pk for lease in leases]


def lease_renew(*, lease_id: int, until: datetime | None = None) -> bool:
    """Renew a lease (database time, or `until` for a task queued to run then). False if the
    lease ended: its task must stop, its claims may already be someone else's."""
    return bool(DeliveryLease.objects.filter(pk=lease_id).update(renewed_at=until or Now()))


def lease_end(*, lease_id: int) -> None:
    """The task is done with the batch: give back any claim the lease still holds."""
    with transaction.atomic():
        Recipient.objects.filter(claimed_by=lease_id, claimed_at__isnull=False).update(
            claimed_at=None, claimed_by=None
        )
        DeliveryLease.objects.filter(pk=lease_id).delete()


def leases_expire(*, now: datetime | None = None) -> set[int]:
    """End the leases not renewed for DELIVERY_LEASE_SECONDS and release their claims.

    Each lease is ended with a conditional DELETE, so a worker renewing it at the same moment
    either keeps it (the DELETE matches nothing) or learns at its next claim or record that it
    lost it. Returns the ids of the batches concerned.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    expired = list(
        DeliveryLease.objects.filter(renewed_at__lt=cutoff).values_list("pk", "batch_id")
    )
    batches: set[int] = set()
    for lease_id, batch_id in expired:
        with transaction.atomic():
            deleted, _ = DeliveryLease.objects.filter(pk=lease_id, renewed_at__lt=cutoff).delete()
            if deleted:
                Recipient.objects.filter(claimed_by=lease_id, claimed_at__isnull=False).update(
                    claimed_at=None, claimed_by=None
                )
                batches.add(batch_id)
    return batches
