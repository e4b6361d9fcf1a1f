from collections.abc import Collection, Iterable

from django.conf import settings
from django.db import models
from django.db.models import Case, F, Q, Value, When
from django.utils.translation import pgettext_lazy


class BatchStatus(models.TextChoices):
    SCHEDULED = "scheduled", pgettext_lazy("status", "Scheduled")
    SENDING = "sending", pgettext_lazy("status", "Sending")
    # Too many messages failed: the platform halted it; support resumes or stops it.
    PAUSED = "paused", pgettext_lazy("status", "Paused")
    SENT = "sent", pgettext_lazy("status", "Sent")
    CANCELED = "canceled", pgettext_lazy("status", "Canceled")


class Batch(models.Model):
    Status = BatchStatus

    sending = models.ForeignKey(
        "sendings.Sending", on_delete=models.CASCADE, related_name="batches"
    )
    number = models.PositiveSmallIntegerField()
    scheduled_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SCHEDULED)
    recipient_count = models.PositiveIntegerField(default=0)
    sent_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    canceled_count = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    canceled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    paused_at = models.DateTimeField(null=True, blank=True)
    # The failure rate that pauses a batch is measured from these counts: zero at the start,
    # the counts at the moment support resumed it afterwards ("measured afresh").
    # Database defaults too: bulk loaders insert batches in raw SQL.
    measured_from_sent = models.PositiveIntegerField(default=0, db_default=0)
    measured_from_failed = models.PositiveIntegerField(default=0, db_default=0)
    # Canceled, and some of its recipient rows still say pending: the deferred cancel has not
    # caught up yet (batches.services.recipients_cancel_catch_up clears it). The counters
    # already count those rows as canceled; readers of row statuses use `counted_as`.
    rows_catching_up = models.BooleanField(default=False, db_default=False)
    # Renewed by each chunk of a catch-up in progress: beat's sweep leaves a live one alone.
    catch_up_renewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["sending", "number"]
        verbose_name_plural = "batches"
        constraints = [
            models.UniqueConstraint(fields=["sending", "number"], name="batch_number_unique"),
            models.CheckConstraint(condition=Q(number__gte=1), name="batch_number_positive"),
            models.CheckConstraint(
                condition=Q(status__in=BatchStatus.values), name="batch_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(
                    recipient_count__gte=F("sent_count") + F("failed_count") + F("canceled_count")
                ),
                name="batch_counts_within_total",
            ),
        ]
        indexes = [
            # The dispatcher's queue: scheduled batches by time.
            models.Index(
                fields=["scheduled_at"],
                condition=Q(status="scheduled"),
                name="batch_due_idx",
            ),
            models.Index(
                fields=["started_at"],
                condition=Q(status="sending"),
                name="batch_in_progress_idx",
            ),
            # The sweep's queue: canceled batches whose rows have not caught up.
            models.Index(
                fields=["canceled_at"],
                condition=Q(rows_catching_up=True),
                name="batch_catching_up_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Batch {self.number} of {self.sending_id}"

    @property
    def pending_count(self) -> int:
        return self.recipient_count - self.sent_count - self.failed_count - self.canceled_count

    @property
    def can_cancel(self) -> bool:
        return self.status == BatchStatus.SCHEDULED

    @property
    def is_finished(self) -> bool:
        return self.status in (BatchStatus.SENT, BatchStatus.CANCELED)

    @property
    def can_resume(self) -> bool:
        return self.status == BatchStatus.PAUSED


class RecipientStatus(models.TextChoices):
    PENDING = "pending", pgettext_lazy("recipient status", "Pending")
    SENT = "sent", pgettext_lazy("recipient status", "Sent")
    FAILED = "failed", pgettext_lazy("recipient status", "Failed")
    CANCELED = "canceled", pgettext_lazy("recipient status", "Canceled")


CANCEL_REASON_UNSUBSCRIBED = "unsubscribed"


# The deferred cancel, the one home of its counting rule: a recipient still pending in a
# canceled batch counts as canceled (its row catches up after the stop committed, in chunks).
# Every reader of recipient row statuses goes through these, never through `status` alone.


def status_shown(status: str, *, batch_canceled: bool) -> str:
    """What a recipient's status counts as, given whether its batch is canceled."""
    if status == RecipientStatus.PENDING and batch_canceled:
        return RecipientStatus.CANCELED
    return status


def counted_as_q(statuses: Iterable[str], *, catching_up: Collection[int] | None = None) -> Q:
    """Recipients that count as one of `statuses`.

    With `catching_up` (the ids of the canceled batches whose rows have not caught up, e.g.
    from `Batch.rows_catching_up` of one sending) the condition stays on the recipient's own
    columns, so the status indexes serve it; without, it joins the batch's status.
    """
    statuses = set(statuses)
    if catching_up is None:
        stopped = Q(batch__status=BatchStatus.CANCELED)
    elif catching_up:
        stopped = Q(batch_id__in=list(catching_up))
    else:
        return Q(status__in=sorted(statuses))
    plain = statuses - {RecipientStatus.PENDING}
    pending = Q(status=RecipientStatus.PENDING)
    if RecipientStatus.PENDING in statuses:
        if RecipientStatus.CANCELED not in statuses:
            pending &= ~stopped
    elif RecipientStatus.CANCELED in statuses:
        pending &= stopped
    else:
        return Q(status__in=sorted(plain))
    return Q(status__in=sorted(plain)) | pending if plain else pending


class RecipientQuerySet(models.QuerySet):
    def counted_as(self, *statuses: str, catching_up: Collection[int] | None = None):
        """Recipients that count as one of `statuses` (see `counted_as_q`)."""
        return self.filter(counted_as_q(statuses, catching_up=catching_up))

    def with_status_shown(self):
        """Annotated with `status_shown`: the status each recipient counts as."""
        return self.annotate(
            status_shown=Case(
                When(
                    Q(status=RecipientStatus.PENDING, batch__status=BatchStatus.CANCELED),
                    then=Value(RecipientStatus.CANCELED.value),
                ),
                default=F("status"),
                output_field=models.CharField(),
            )
        )


class Recipient(models.Model):
    """One contact of the audience snapshot taken at confirmation, assigned to one batch."""

    Status = RecipientStatus

    # No database-level foreign keys (db_constraint=False): PostgreSQL checks a deferred key
    # for every inserted row at COMMIT, and those checks were half of a large confirm (per
    # row, whatever the key). Rows are only written by the audience snapshot, which reads the
    # contacts and creates the batches in the same transaction under the sending's lock, and
    # Django still applies on_delete (CASCADE, SET_NULL) when a sending, batch or contact is
    # deleted. The sending and batch keys are served by the composite indexes below.
    sending = models.ForeignKey(
        "sendings.Sending",
        on_delete=models.CASCADE,
        related_name="recipients",
        db_index=False,
        db_constraint=False,
    )
    batch = models.ForeignKey(
        Batch,
        on_delete=models.CASCADE,
        related_name="recipients",
        db_index=False,
        db_constraint=False,
    )
    contact = models.ForeignKey(
        "sendings.Contact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    email = models.EmailField(max_length=254)
    name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # The DeliveryLease of the task holding the claim (no foreign key: a lease that ends must
    # not touch this table beyond the claims it releases).
    claimed_by = models.BigIntegerField(null=True, blank=True)
    # After a rejection the recipient waits (backoff) before it can be claimed again.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Why a recipient was canceled when it was not the whole batch: "unsubscribed" (the contact
    # unsubscribed after the confirmation). Empty for a canceled or stopped batch. A database
    # default too: the audience snapshot inserts recipients in raw SQL.
    cancel_reason = models.CharField(max_length=16, blank=True, default="", db_default="")

    objects = RecipientQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sending", "email"], name="recipient_email_unique"),
            models.CheckConstraint(
                condition=Q(status__in=RecipientStatus.values), name="recipient_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["batch", "status"], name="recipient_batch_status_idx"),
            # The recipients page and its export: one status of a sending, by email (keyset).
            models.Index(fields=["sending", "status", "email"], name="recipient_status_email_idx"),
            # The delivery queue: pending recipients of a batch, in claim order.
            models.Index(
                fields=["batch", "id"], condition=Q(status="pending"), name="recipient_pending_idx"
            ),
            # Messages in flight when a stop committed (canceled, still claimed): a ticket's
            # outcome waits for them to be recorded, so it states exactly who received it.
            models.Index(
                fields=["batch"],
                condition=Q(status="canceled", claimed_at__isnull=False),
                name="recipient_inflight_idx",
            ),
            # Claims of waiting recipients by age: what recovery releases when no live lease
            # holds them, and how many each batch has out. Only rows claimed right now are in
            # it (a few chunks per worker), so recovery costs the same at any audience size.
            models.Index(
                fields=["claimed_at", "batch"],
                condition=Q(status="pending", claimed_at__isnull=False),
                name="recipient_claim_age_idx",
            ),
            # Claims by lease: what a dead task held, released when its lease ends.
            models.Index(
                fields=["claimed_by"],
                condition=Q(claimed_at__isnull=False),
                name="recipient_claimed_by_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.email


class DeliveryLease(models.Model):
    """One delivery task in circulation for a batch: queued, running, or requeued.

    Created when the task is queued and carried by it from slice to slice; a running task
    renews it with every claim and record (database time). One not renewed for
    DELIVERY_LEASE_SECONDS belongs to a task that died or was lost with the broker: recovery
    ends it, releases the claims it held and queues a task in its place. So the leases of a
    batch count its tasks, and a dead task's claims come back without waiting for
    CLAIM_TIMEOUT_SECONDS, while a live task's claims are never taken from it.
    """

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="leases")
    renewed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Delivery lease {self.pk} of batch {self.batch_id}"
