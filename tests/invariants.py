"""Invariant 1, pending + sent + failed + canceled = total: one helper checks it after every
service call in the tests. Rows count as `batches.models.status_shown` says."""

from collections import Counter

from django.db import connection, transaction

from batches.models import Batch, Recipient, status_shown
from sendings.models import Sending


def assert_counts_add_up() -> None:
    """pending + sent + failed + canceled = total, per batch and per sending, counters included.

    Reads one consistent snapshot, so it can run while other threads commit.
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        _check_snapshot()


def _check_snapshot() -> None:
    by_batch: dict[int, Counter] = {}
    raw_pending: Counter = Counter()
    # What each row counts as: a pending row of a canceled batch is canceled (deferred cancel).
    canceled = set(Batch.objects.filter(status="canceled").values_list("pk", flat=True))
    rows = Recipient.objects.values_list("batch_id", "status").order_by()
    for batch_id, status in rows.iterator(chunk_size=10_000):
        shown = status_shown(status, batch_canceled=batch_id in canceled)
        by_batch.setdefault(batch_id, Counter())[shown] += 1
        raw_pending[batch_id] += status == "pending"
    by_sending: dict[int, Counter] = {}
    # The retention policy deleted these rows on purpose: the counters are the record now,
    # and a finished sending has nobody pending.
    purged = set(
        Sending.objects.filter(recipients_purged_at__isnull=False).values_list("pk", flat=True)
    )
    for batch in Batch.objects.exclude(sending_id__in=purged):
        actual = by_batch.get(batch.pk, Counter())
        if batch.status == "canceled" and raw_pending[batch.pk]:
            assert batch.rows_catching_up, (
                f"batch {batch.pk}: {raw_pending[batch.pk]} pending rows, not catching up"
            )
        stored = Counter(
            sent=batch.sent_count, failed=batch.failed_count, canceled=batch.canceled_count
        )
        stored["pending"] = batch.pending_count
        assert batch.pending_count >= 0, f"batch {batch.pk}: negative pending"
        assert sum(actual.values()) == batch.recipient_count, (
            f"batch {batch.pk}: {sum(actual.values())} recipient rows, "
            f"recipient_count says {batch.recipient_count}"
        )
        for status in ("pending", "sent", "failed", "canceled"):
            assert actual[status] == stored[status], (
                f"batch {batch.pk} {status}: rows say {actual[status]}, counters {stored[status]}"
            )
        by_sending.setdefault(batch.sending_id, Counter()).update(actual)
    for sending in Sending.objects.filter(pk__in=purged):
        assert sending.pending_count == 0, f"purged sending {sending.pk}: someone pending"
    for sending in Sending.objects.exclude(pk__in=purged):
        actual = by_sending.get(sending.pk, Counter())
        assert sum(actual.values()) == sending.total_recipients, f"sending {sending.pk}: total"
        assert actual["sent"] == sending.sent_count, f"sending {sending.pk}: sent"
        assert actual["failed"] == sending.failed_count, f"sending {sending.pk}: failed"
        assert actual["canceled"] == sending.canceled_count, f"sending {sending.pk}: canceled"
        assert actual["pending"] == sending.pending_count, f"sending {sending.pk}: pending"
