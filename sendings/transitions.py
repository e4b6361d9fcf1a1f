"""The locked core shared by every lifecycle service.

Lock order, everywhere: the sending row first, then its batches by number. Services in
sendings.services and batches.services go through these helpers so the order cannot drift.
This module is the bottom layer with the models: it imports nothing outside the core.
"""

import functools
from collections.abc import Callable, Sequence
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from batches.models import Batch
from sendings.exceptions import DomainError
from sendings.models import ContactList, Sending, SendingEvent, SendingStatus

FINISHED = (SendingStatus.SENT, SendingStatus.CANCELED)

# Called as hook(sending=..., actor=..., now=...) when a sending becomes Sent or Canceled,
# inside the transaction that finished it, with its row locked. Apps above the core register
# here at start-up (support closes the sending's open ticket), so the core never imports them.
FinishHook = Callable[..., None]
_finish_hooks: list[FinishHook] = []


def on_sending_finished(hook: FinishHook) -> FinishHook:
    """Register `hook` to run when a sending finishes (idempotent: registering twice is once)."""
    if hook not in _finish_hooks:
        _finish_hooks.append(hook)
    return hook


# Called as hook(sending=..., batch=..., reason=..., answers=..., now=...) when the platform
# pauses a batch (too many failures), in that transaction, with the sending and batch locked:
# support opens a ticket. `answers` are the top server answers as (answer, count).
PauseHook = Callable[..., None]
_pause_hooks: list[PauseHook] = []


def on_batch_paused(hook: PauseHook) -> PauseHook:
    """Register `hook` to run when a batch is paused automatically (idempotent)."""
    if hook not in _pause_hooks:
        _pause_hooks.append(hook)
    return hook


def batch_paused_notify(
    *, sending: Sending, batch: Batch, reason: str, answers: list[tuple[str, int]], now: datetime
) -> None:
    for hook in _pause_hooks:
        hook(sending=sending, batch=batch, reason=reason, answers=answers, now=now)


def sending_lock(sending_id: int) -> tuple[Sending, list[Batch]]:
    """Lock the sending, then all its batches in number order. Call inside transaction.atomic."""
    assert transaction.get_connection().in_atomic_block, "sending_lock needs a transaction"
    sending = Sending.objects.select_for_update().get(pk=sending_id)
    batches = list(
        Batch.objects.select_for_update().filter(sending_id=sending_id).order_by("number")
    )
    return sending, batches


@functools.lru_cache(maxsize=4096)
def _sending_of(batch_id: int) -> int:
    # A batch never moves to another sending, so this may be remembered: it saves a query
    # on every delivery record.
    return Batch.objects.values_list("sending_id", flat=True).get(pk=batch_id)


def batch_lock(batch_id: int) -> tuple[Sending, Batch]:
    """Lock a batch's sending, then the batch itself (a prefix-consistent subset of the order)."""
    assert transaction.get_connection().in_atomic_block, "batch_lock needs a transaction"
    sending = Sending.objects.select_for_update().get(pk=_sending_of(batch_id))
    batch = Batch.objects.select_for_update().get(pk=batch_id)
    return sending, batch


def sending_status_refresh(
    *, sending: Sending, batches: list[Batch], now: datetime, actor=None
) -> None:
    """Recompute the stored status from the batches and save it (docs/decisions.md, status rules).

    A sending that finishes runs the hooks registered with `on_sending_finished` in the same
    transaction, under the same lock (support closes its open urgent-cancel ticket).
    """
    status = Sending.status_for_batches([batch.status for batch in batches])
    if status == sending.status:
        return
    sending.status = status
    sending.finished_at = now if status in FINISHED else None
    sending.save(update_fields=["status", "finished_at"])
    if status in FINISHED:
        for hook in _finish_hooks:
            hook(sending=sending, actor=actor, now=now)


def event_record(
    *,
    sending: Sending,
    kind: str,
    actor=None,
    batch: Batch | None = None,
    message: str = "",
) -> SendingEvent:
    """Append to the audit trail, with the sending's counts as they are now in this transaction."""
    sending.refresh_from_db(
        fields=["total_recipients", "sent_count", "failed_count", "canceled_count"]
    )
    return SendingEvent.objects.create(
        sending=sending,
        batch=batch,
        actor=actor,
        actor_label=actor.get_username() if actor is not None else "system",
        kind=kind,
        message=message,
        total_recipients=sending.total_recipients,
        sent_count=sending.sent_count,
        failed_count=sending.failed_count,
        canceled_count=sending.canceled_count,
    )


def refuse_if_small(sending: Sending) -> None:
    """The help page: "we cannot stop small sendings". Support stops refuse them too.

    Not a sending the platform paused: it is waiting for support, who must be able to end it.
    """
    if sending.is_small and not sending.is_paused:
        raise DomainError(
            _(
                "“%(name)s” goes to %(count)s contacts; sendings under %(limit)s contacts "
                "cannot be stopped."
            )
            % {
                "name": sending.name,
                "count": sending.total_recipients,
                "limit": settings.SMALL_SENDING_MAX_RECIPIENTS,
            },
            code="small",
        )


def lists_refuse_foreign(*, subaccount_id: int, lists: Sequence[ContactList]) -> None:
    """A sending targets lists of its own subaccount only (invariant 5): refuse any other."""
    foreign = [lst.name for lst in lists if lst.subaccount_id != subaccount_id]
    if foreign:
        raise DomainError(
            _("These lists belong to another subaccount: %(names)s.")
            % {"names": ", ".join(foreign)},
            code="foreign_list",
        )
