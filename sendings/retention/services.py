"""Remove the recipient rows of sendings finished more than RECIPIENT_RETENTION_DAYS ago.

Who got what is kept for a year and a month by default; after that the rows go, in chunks,
and the sending keeps everything a list shows: its counters, its batches (with theirs) and
its timeline. The pages say the list was removed and when (`Sending.recipients_purged_at`);
resends and corrections, which need that list, are refused.
"""

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from batches.models import Recipient
from sendings.models import Sending, SendingEvent, SendingStatus
from sendings.transitions import event_record, sending_lock

FINISHED = (SendingStatus.SENT, SendingStatus.CANCELED)
# A run works this long at most (chunk granularity); beat runs it again soon after.
RUN_SECONDS = 30.0
# Sendings a run marks for removal at most (the next run takes the rest).
MARK_PER_RUN = 100


@dataclass(frozen=True)
class PurgeReport:
    marked: int  # sendings whose removal began in this run
    deleted: int  # recipient rows deleted in this run
    finished: int  # sendings whose last row went in this run


def retention_cutoff(*, now: datetime) -> datetime | None:
    """Sendings finished before this lose their recipient rows; None: kept forever."""
    days = settings.RECIPIENT_RETENTION_DAYS
    return now - timedelta(days=days) if days else None


def recipients_purge_expired(
    *, now: datetime | None = None, chunk: int | None = None, run_seconds: float = RUN_SECONDS
) -> PurgeReport:
    """Mark the sendings that are due and delete their recipient rows, chunk by chunk.

    A sending is due when it is Sent or Canceled and finished before the cutoff. Marking
    locks it (like every change) and records a timeline event; from then on the pages say
    the list was removed. Rows then go RECIPIENT_PURGE_CHUNK at a time, each chunk its own
    short transaction, walked by email (`recipient_email_unique`), so no chunk rescans what
    an earlier one deleted. Idempotent: a run that stops halfway (its time is up, the
    process died) is carried on by the next one; nothing else changes, counters included.
    """
    now = now or timezone.now()
    chunk = chunk or settings.RECIPIENT_PURGE_CHUNK
    cutoff = retention_cutoff(now=now)
    if cutoff is None:
        return PurgeReport(marked=0, deleted=0, finished=0)
    marked = _mark_due(cutoff=cutoff, now=now)
    deadline = time.monotonic() + run_seconds
    deleted = finished = 0
    purging = Sending.objects.filter(
        recipients_purged_at__isnull=False, recipients_purge_done=False
    ).order_by("id")
    for sending_id in purging.values_list("id", flat=True):
        rows, done = _rows_delete(sending_id=sending_id, chunk=chunk, deadline=deadline)
        deleted += rows
        finished += done
        if not done:
            break
    return PurgeReport(marked=marked, deleted=deleted, finished=finished)


def _mark_due(*, cutoff: datetime, now: datetime) -> int:
    due = list(
        Sending.objects.filter(
            status__in=FINISHED, finished_at__lt=cutoff, recipients_purged_at__isnull=True
        )
        .order_by("finished_at", "id")
        .values_list("id", flat=True)[:MARK_PER_RUN]
    )
    marked = 0
    for sending_id in due:
        with transaction.atomic():
            sending, _batches = sending_lock(sending_id)
            if (
                sending.status not in FINISHED
                or sending.finished_at is None
                or sending.finished_at >= cutoff
                or sending.recipients_purged_at is not None
            ):
                continue
            sending.recipients_purged_at = now
            sending.save(update_fields=["recipients_purged_at"])
            event_record(
                sending=sending,
                kind=SendingEvent.Kind.RECIPIENTS_PURGED,
                message=gettext(
                    "Recipient list removed under the retention policy (kept %(days)s days "
                    "after the sending finished); the counts are kept."
                )
                % {"days": settings.RECIPIENT_RETENTION_DAYS},
            )
            marked += 1
    return marked


def _rows_delete(*, sending_id: int, chunk: int, deadline: float) -> tuple[int, bool]:
    """Delete the sending's recipient rows until none is left (True) or time is up."""
    deleted, last = 0, ""
    rows = Recipient.objects.filter(sending_id=sending_id).order_by("email")
    while time.monotonic() < deadline:
        with transaction.atomic():
            emails = list(rows.filter(email__gt=last).values_list("email", flat=True)[:chunk])
            if not emails:
                Sending.objects.filter(pk=sending_id).update(recipients_purge_done=True)
                return deleted, True
            count, _ = rows.filter(email__gte=emails[0], email__lte=emails[-1]).delete()
            deleted += count
            last = emails[-1]
    return deleted, False
