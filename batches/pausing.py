"""Automatic pause: a batch failing too often halts itself; support resumes it.

`pause_if_failing` runs inside `recipients_record_results`, with the sending and the batch
locked by it; `batch_resume` takes the locks itself (the sending, then its batches), like
every other state change.
"""

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from batches.halt import halt_announce, halt_clear, halt_pending
from batches.models import Batch, BatchStatus, Recipient, RecipientStatus
from sendings.exceptions import DomainError
from sendings.formatting import thousands
from sendings.models import Sending, SendingEvent
from sendings.results import Changed
from sendings.transitions import (
    batch_paused_notify,
    event_record,
    sending_lock,
    sending_status_refresh,
)


def pause_if_failing(*, sending: Sending, batch: Batch, now: datetime) -> None:
    """Pause a sending batch whose failure rate crossed AUTO_PAUSE_FAILURE_RATE.

    Measured over the messages tried since `measured_from_*` (the start, or the last resume),
    once there are at least AUTO_PAUSE_MIN_ATTEMPTS of them. The sending and the batch are
    locked by the caller. Workers are halted like a stop halts them; support decides.
    """
    batch.refresh_from_db(fields=["sent_count", "failed_count"])
    failed = batch.failed_count - batch.measured_from_failed
    tried = batch.sent_count - batch.measured_from_sent + failed
    if (
        tried < settings.AUTO_PAUSE_MIN_ATTEMPTS
        or failed <= settings.AUTO_PAUSE_FAILURE_RATE * tried
    ):
        return
    halt_pending(batch.pk)  # workers wait while this commits, then stop
    batch.status = BatchStatus.PAUSED
    batch.paused_at = now
    batch.save(update_fields=["status", "paused_at"])
    batches = list(Batch.objects.filter(sending=sending).order_by("number"))
    sending_status_refresh(sending=sending, batches=batches, now=now)
    reason = f"{round(100 * failed / tried)}% of {tried:,} messages failed"
    answers = _top_answers(batch)
    event_record(
        sending=sending,
        kind=SendingEvent.Kind.BATCH_PAUSED,
        batch=batch,
        message=f"Batch {batch.number} paused automatically: {reason}.",
    )
    batch_paused_notify(sending=sending, batch=batch, reason=reason, answers=answers, now=now)
    batch_id = batch.pk
    # Best effort (Redis may be down): workers also read the status at their next record.
    transaction.on_commit(lambda: halt_announce(batch_id), robust=True)


def _top_answers(batch: Batch, limit: int = 3) -> list[tuple[str, int]]:
    """The server answers most failed recipients of the batch got, most frequent first."""
    return [
        (row["last_error"], row["count"])
        for row in Recipient.objects.filter(batch=batch, status=RecipientStatus.FAILED)
        .values("last_error")
        .annotate(count=Count("id"))
        .order_by("-count", "last_error")[:limit]
    ]


def batch_resume(*, batch_id: int, actor) -> Changed[Batch]:
    """Put a paused batch back to sending (support's Resume); `batches.dispatch.
    batch_resume_and_deliver` also puts its workers back on it.

    The failure rate is measured afresh from the counts at this moment. Locks the sending,
    then its batches. Resuming a batch that is sending is a no-op (`changed` False); one that
    is not paused otherwise (finished, canceled, scheduled) is refused with a DomainError.
    The halt signal is cleared after commit (best effort: a worker also reads the status).
    """
    with transaction.atomic():
        sending_id = Batch.objects.values_list("sending_id", flat=True).get(pk=batch_id)
        sending, batches = sending_lock(sending_id)
        batch = next(b for b in batches if b.pk == batch_id)
        if batch.status == BatchStatus.SENDING:
            return Changed(batch, changed=False)
        if not batch.can_resume:
            raise DomainError(
                _(
                    "Batch %(number)s of “%(name)s” is %(status)s, not paused: there is "
                    "nothing to resume."
                )
                % {
                    "number": batch.number,
                    "name": sending.name,
                    "status": batch.get_status_display().lower(),
                },
                code="not_paused",
            )
        now = timezone.now()
        batch.status = BatchStatus.SENDING
        batch.measured_from_sent = batch.sent_count
        batch.measured_from_failed = batch.failed_count
        batch.save(update_fields=["status", "measured_from_sent", "measured_from_failed"])
        sending_status_refresh(sending=sending, batches=batches, now=now, actor=actor)
        event_record(
            sending=sending,
            kind=SendingEvent.Kind.BATCH_RESUMED,
            actor=actor,
            batch=batch,
            message=(
                _(
                    "Batch %(number)s resumed; failures are measured afresh from here "
                    "(%(tried)s messages tried so far)."
                )
                % {
                    "number": batch.number,
                    "tried": thousands(batch.sent_count + batch.failed_count),
                }
            ),
        )
        transaction.on_commit(lambda: halt_clear(batch_id), robust=True)
    return Changed(batch, changed=True)
