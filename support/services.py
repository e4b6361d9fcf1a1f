"""Urgent-cancel tickets: filing, stopping, declining, closing.

Every service locks the sending row first, then the ticket, like every other lifecycle
service (sendings/transitions.py), so a stop and the sending finishing on its own serialize:
the ticket ends stopped or too late, never both. The emails a ticket owes are outbox rows
written in the same transaction (sendings.outbox): sent after commit, at most once, and by
the beat task if the broker or the SMTP server was down at the time.
"""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from batches.dispatch import batch_resume_and_deliver
from batches.models import Batch
from batches.services import inflight_count, rows_caught_up
from sendings.exceptions import DomainError
from sendings.formatting import thousands
from sendings.models import Sending, SendingEvent, SendingStatus
from sendings.outbox.services import notification_owe
from sendings.results import Changed
from sendings.services import sending_stop
from sendings.transitions import event_record, refuse_if_small, sending_lock
from support.models import Ticket

# Outbox kinds, rendered by support.notifications (registered at start-up).
TICKET_REQUEST = "support.ticket_request"
TICKET_OUTCOME = "support.ticket_outcome"


def _open_ticket(sending: Sending, kind: str = Ticket.Kind.URGENT_CANCEL) -> Ticket | None:
    return (
        Ticket.objects.select_for_update()
        .filter(sending=sending, kind=kind, status=Ticket.Status.OPEN)
        .first()
    )


def ticket_file(*, sending: Sending, requester, message: str = "") -> tuple[Ticket, bool]:
    """File an "Urgent Cancel Sending" request for a sending in progress.

    Returns (ticket, created). Filing again while a ticket is open returns that ticket and
    sends nothing (one open ticket per sending, also a database constraint). Refused with a
    DomainError when the sending is not in progress (finished, scheduled, draft) or is small.
    Locks the sending row; support is emailed after commit.
    """
    with transaction.atomic():
        sending, _batches = sending_lock(sending.pk)
        existing = _open_ticket(sending)
        if existing is not None:
            return existing, False
        if not sending.can_request_urgent_cancellation:
            raise _not_in_progress(sending)
        refuse_if_small(sending)
        ticket = Ticket.objects.create(
            sending=sending,
            requested_by=requester,
            account_identifier=sending.subaccount.account.identifier,
            sending_name=sending.name,
            sending_identifier=sending.identifier,
            message=message.strip(),
        )
        event_record(
            sending=sending,
            kind=SendingEvent.Kind.URGENT_CANCEL_REQUESTED,
            actor=requester,
            message=_("Urgent cancellation requested (ticket #%(ticket)s).")
            % {"ticket": ticket.pk},
        )
        notification_owe(kind=TICKET_REQUEST, object_id=ticket.pk)
    return ticket, True


def _not_in_progress(sending: Sending) -> DomainError:
    if sending.is_finished:
        return DomainError(
            _(
                "“%(name)s” has finished (%(status)s) in the meantime: %(sent)s of %(total)s "
                "contacts received it. There is nothing left to stop, so no request was sent."
            )
            % {
                "name": sending.name,
                "status": sending.get_status_display().lower(),
                "sent": thousands(sending.sent_count),
                "total": thousands(sending.total_recipients),
            },
            code="finished",
        )
    if sending.status == SendingStatus.SCHEDULED:
        return DomainError(
            _("“%(name)s” is not being sent right now: you can cancel it yourself.")
            % {"name": sending.name},
            code="scheduled",
        )
    return DomainError(
        _("“%(name)s” is a draft; nothing is being sent.") % {"name": sending.name}, code="draft"
    )


def _lock(ticket: Ticket) -> tuple[Sending, Ticket]:
    sending, _batches = sending_lock(ticket.sending_id)
    return sending, Ticket.objects.select_for_update().get(pk=ticket.pk)


def _refuse_closed(ticket: Ticket) -> DomainError:
    return DomainError(
        _("This request is already closed: %(status)s.")
        % {"status": ticket.get_status_display().lower()},
        code="closed",
    )


def ticket_stop_sending(*, ticket: Ticket, actor) -> Changed[Ticket]:
    """Stop the ticket's sending: the batch in progress and every later batch are canceled.

    The number of contacts who had received it is recorded on the ticket; it is final once
    the messages in flight at the stop are recorded (ticket_outcome_settle). Stopping a
    stopped ticket is a no-op (`changed` False); a declined or too-late one is refused, and
    so is a small sending (decline it instead). Locks the sending, its batches, then the
    ticket.
    """
    with transaction.atomic():
        sending, ticket = _lock(ticket)
        if ticket.status == Ticket.Status.STOPPED:
            return Changed(ticket, changed=False)
        if not ticket.is_open:
            raise _refuse_closed(ticket)
        refuse_if_small(sending)
        now = timezone.now()
        # Closed first: the stop finishes the sending, and a finishing sending closes its
        # open ticket as "too late" (tickets_close_on_finish).
        ticket.status = Ticket.Status.STOPPED
        ticket.handled_by, ticket.handled_at = actor, now
        ticket.save(update_fields=["status", "handled_by", "handled_at"])
        stopped = sending_stop(
            sending=sending, actor=actor, note=_("Ticket #%(ticket)s.") % {"ticket": ticket.pk}
        )
        ticket.received_at_stop = stopped.obj.sent_count
        ticket.save(update_fields=["received_at_stop"])
        notification_owe(kind=TICKET_OUTCOME, object_id=ticket.pk)
    return Changed(ticket, changed=True, canceled=stopped.canceled)


def ticket_decline(*, ticket: Ticket, actor, reason: str) -> Changed[Ticket]:
    """Decline a request with a reason the requester is emailed. The sending goes on.

    Declining a declined ticket is a no-op (`changed` False); a stopped or too-late one is
    refused.
    """
    reason = reason.strip()
    if not reason:
        raise DomainError(_("Give a reason for declining: the customer is told it."), code="reason")
    with transaction.atomic():
        sending, ticket = _lock(ticket)
        if ticket.status == Ticket.Status.DECLINED:
            return Changed(ticket, changed=False)
        if not ticket.is_open:
            raise _refuse_closed(ticket)
        if ticket.is_auto_pause:
            raise DomainError(
                _("A paused sending waits for support: resume it or stop it."), code="paused"
            )
        ticket.status = Ticket.Status.DECLINED
        ticket.handled_by, ticket.handled_at = actor, timezone.now()
        ticket.outcome_note = reason
        ticket.save(update_fields=["status", "handled_by", "handled_at", "outcome_note"])
        event_record(
            sending=sending,
            kind=SendingEvent.Kind.URGENT_CANCEL_DECLINED,
            actor=actor,
            message=_("Urgent cancellation declined (ticket #%(ticket)s): %(reason)s")
            % {"ticket": ticket.pk, "reason": reason},
        )
        notification_owe(kind=TICKET_OUTCOME, object_id=ticket.pk)
    return Changed(ticket, changed=True)


def tickets_close_on_finish(*, sending: Sending, actor, now: datetime) -> None:
    """Close the open ticket of a sending that just finished; its sending row is locked.

    Registered with `sendings.transitions.on_sending_finished` at start-up (SupportConfig),
    so it runs in the transaction that finished the sending.

    Sent: support was too late. Canceled by anyone (a stop from the admin, the marketer
    canceling the batches left between two batches): the request is fulfilled, so stopped.
    An open pause ticket is closed the same way (a stop of the urgent request ends it).
    """
    for kind in Ticket.Kind.values:
        ticket = _open_ticket(sending, kind)
        if ticket is not None:
            _ticket_close_on_finish(ticket, sending=sending, actor=actor, now=now)


def _ticket_close_on_finish(ticket: Ticket, *, sending: Sending, actor, now: datetime) -> None:
    if sending.status == SendingStatus.SENT:
        ticket.status = Ticket.Status.TOO_LATE
        ticket.outcome_note = _("The sending finished before support could stop it.")
    else:
        ticket.status = Ticket.Status.STOPPED
        ticket.handled_by = actor
        ticket.outcome_note = (
            _("Canceled by %(user)s before support acted") % {"user": actor.get_username()}
            if actor is not None
            else _("Canceled by the system before support acted")
        )
        ticket.received_at_stop = Sending.objects.values_list("sent_count", flat=True).get(
            pk=sending.pk
        )
    ticket.handled_at = now
    ticket.save(
        update_fields=["status", "outcome_note", "handled_by", "handled_at", "received_at_stop"]
    )
    notification_owe(kind=TICKET_OUTCOME, object_id=ticket.pk)


def ticket_open_on_pause(
    *, sending: Sending, batch: Batch, reason: str, answers: list[tuple[str, int]], now: datetime
) -> Ticket:
    """Open a ticket for support when the platform paused a batch; support is emailed.

    Registered with `sendings.transitions.on_batch_paused` at start-up (SupportConfig): it
    runs in the transaction that paused the batch, with the sending and batch locked. The
    subject says why ("Paused automatically: 14% of 600 messages failed"); the message lists
    the top server answers. A pause ticket already open is kept (and returned).
    """
    existing = _open_ticket(sending, Ticket.Kind.AUTO_PAUSE)
    if existing is not None:
        return existing
    lines = [f"Batch {batch.number} paused: {reason}.", "", "Top server answers:"]
    lines += [f"- {answer or '(no answer)'} ({count:,} contacts)" for answer, count in answers]
    ticket = Ticket.objects.create(
        sending=sending,
        kind=Ticket.Kind.AUTO_PAUSE,
        requested_by=None,
        subject=f"Paused automatically: {reason}"[:100],
        account_identifier=sending.subaccount.account.identifier,
        sending_name=sending.name,
        sending_identifier=sending.identifier,
        message="\n".join(lines),
    )
    notification_owe(kind=TICKET_REQUEST, object_id=ticket.pk)
    return ticket


def ticket_resume_sending(*, ticket: Ticket, actor) -> Changed[Ticket]:
    """Resume the paused batch of a pause ticket: workers go back on it, the failure rate is
    measured afresh from here. The ticket closes as resumed.

    Resuming a resumed ticket is a no-op (`changed` False); a ticket that is not a pause, or
    is closed otherwise (stopped: the sending was stopped meanwhile), is refused. Locks the
    sending, its batches, then the ticket.
    """
    with transaction.atomic():
        sending, ticket = _lock(ticket)
        if ticket.status == Ticket.Status.RESUMED:
            return Changed(ticket, changed=False)
        if not ticket.is_auto_pause:
            raise DomainError(
                _("Only a sending the platform paused can be resumed."), code="not_paused"
            )
        if not ticket.is_open:
            raise _refuse_closed(ticket)
        paused = Batch.objects.filter(sending=sending, status=Batch.Status.PAUSED).first()
        if paused is None:
            raise DomainError(
                _("“%(name)s” is not paused any more.") % {"name": sending.name},
                code="not_paused",
            )
        now = timezone.now()
        ticket.status = Ticket.Status.RESUMED
        ticket.handled_by, ticket.handled_at = actor, now
        ticket.outcome_note = _("Resumed by %(user)s") % {"user": actor.get_username()}
        ticket.received_at_stop = sending.sent_count
        ticket.save(
            update_fields=["status", "handled_by", "handled_at", "outcome_note", "received_at_stop"]
        )
        batch_resume_and_deliver(batch_id=paused.pk, actor=actor)
    return Changed(ticket, changed=True)


@dataclass(frozen=True)
class Settled:
    """Whether a closed ticket's outcome can be emailed: `ticket` if so, else wait or skip."""

    ticket: Ticket | None = None
    wait: bool = False


def ticket_outcome_settle(*, ticket_id: int, now: datetime | None = None) -> Settled:
    """Make a closed ticket's numbers final before its outcome is emailed.

    Skips a ticket that is open or was emailed already. Waits while the stopped batches'
    rows have not caught up (the deferred cancel, seconds even at a million recipients; no
    time limit: the sweep guarantees it), then while messages in flight at the stop are not
    recorded yet (their workers record them within a second; claims older than
    CLAIM_TIMEOUT_SECONDS, a dead worker's, are not waited for). The caller waits by asking
    again later (the outbox's Wait), never by sleeping. A stopped ticket's
    received count is re-read here: a message handed to SMTP just before the stop committed
    counts as received. Locks the sending, then the ticket.
    """
    now = now or timezone.now()
    with transaction.atomic():
        sending_id = Ticket.objects.values_list("sending_id", flat=True).get(pk=ticket_id)
        sending, _batches = sending_lock(sending_id)
        ticket = Ticket.objects.select_for_update().get(pk=ticket_id)
        if ticket.is_open or ticket.outcome_notified_at is not None:
            return Settled()
        if ticket.status == Ticket.Status.STOPPED:
            if not rows_caught_up(sending_id=sending_id):
                return Settled(wait=True)
            waited = (now - (ticket.handled_at or now)).total_seconds()
            in_flight = inflight_count(sending_id=sending_id, now=now)
            if in_flight and waited < settings.CLAIM_TIMEOUT_SECONDS:
                return Settled(wait=True)
            if ticket.received_at_stop != sending.sent_count:
                ticket.received_at_stop = sending.sent_count
                ticket.save(update_fields=["received_at_stop"])
    ticket.sending = sending
    return Settled(ticket=ticket)


def ticket_outcome_notified(*, ticket_id: int, now: datetime | None = None) -> None:
    """Remember that the requester was emailed the outcome, so no retry emails it twice."""
    Ticket.objects.filter(pk=ticket_id, outcome_notified_at__isnull=True).update(
        outcome_notified_at=now or timezone.now()
    )
