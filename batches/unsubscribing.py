"""An unsubscribe reaches batches already scheduled or sending: their waiting messages to
the contact are canceled, and a worker that holds one skips it."""

from collections.abc import Collection

from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from batches.models import (
    CANCEL_REASON_UNSUBSCRIBED,
    Batch,
    BatchStatus,
    Recipient,
    RecipientStatus,
)
from sendings.models import Sending, SendingEvent
from sendings.transitions import event_record, sending_lock


def recipients_canceled_among(*, batch_id: int, ids: Collection[int]) -> set[int]:
    """Which of these claimed recipients were canceled since (their contact unsubscribed)."""
    if not ids:
        return set()
    return set(
        Recipient.objects.filter(
            batch_id=batch_id, pk__in=list(ids), status=RecipientStatus.CANCELED
        ).values_list("pk", flat=True)
    )


def recipients_cancel_unsubscribed(*, contact_id: int, actor=None, how: str = "") -> int:
    """Cancel the contact's recipients still pending in any batch not finished yet.

    An unsubscribe takes effect at once: in scheduled batches, and in batches sending or
    paused, where a worker holding one in its chunk skips it (it sees the batch's canceled
    count grow at its next record). Each sending is its own transaction, locked like every
    other change (the sending, then its batches); counters move with the recipients, the
    reason is kept on the recipient and the timeline says so. A recipient already handed to
    SMTP is recorded as sent if the server accepted it. Returns how many were canceled;
    calling it again cancels nothing more.
    """
    open_batches = [BatchStatus.SCHEDULED, BatchStatus.SENDING, BatchStatus.PAUSED]
    sending_ids = sorted(
        set(
            Recipient.objects.filter(
                contact_id=contact_id,
                status=RecipientStatus.PENDING,
                batch__status__in=open_batches,
            ).values_list("sending_id", flat=True)
        )
    )
    total = 0
    for sending_id in sending_ids:
        with transaction.atomic():
            sending, batches = sending_lock(sending_id)
            numbers = []
            for batch in batches:
                if batch.status not in open_batches:
                    continue
                canceled = Recipient.objects.filter(
                    batch=batch, contact_id=contact_id, status=RecipientStatus.PENDING
                ).update(status=RecipientStatus.CANCELED, cancel_reason=CANCEL_REASON_UNSUBSCRIBED)
                if canceled:
                    Batch.objects.filter(pk=batch.pk).update(
                        canceled_count=F("canceled_count") + canceled
                    )
                    Sending.objects.filter(pk=sending.pk).update(
                        canceled_count=F("canceled_count") + canceled
                    )
                    numbers.append(str(batch.number))
                    total += canceled
            if numbers:
                values = {"how": how, "batches": ", ".join(numbers)}
                if len(batches) == 1:
                    message = (
                        _("A contact unsubscribed %(how)s: left out, they will not receive it.")
                        if how
                        else _("A contact unsubscribed: left out, they will not receive it.")
                    )
                else:
                    message = (
                        _(
                            "A contact unsubscribed %(how)s: left out (batch %(batches)s), they "
                            "will not receive it."
                        )
                        if how
                        else _(
                            "A contact unsubscribed: left out (batch %(batches)s), they will not "
                            "receive it."
                        )
                    )
                event_record(
                    sending=sending,
                    kind=SendingEvent.Kind.UNSUBSCRIBED,
                    actor=actor,
                    message=message % values,
                )
    return total
