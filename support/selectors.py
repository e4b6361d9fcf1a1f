"""Reads for the support queue, the ticket page, and the ticket state shown on sendings."""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404
from django.utils import timezone

from batches.models import Batch, BatchStatus
from sendings.models import Sending
from support.models import Ticket

SUPPORT_GROUP = "support"
RECENT_LIMIT = 20


def is_support(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Support pages are for the `support` group only (staff in the `support` group)."""
    if not user.is_authenticated:
        return False
    cached = getattr(user, "_is_support", None)
    if cached is None:
        cached = user._is_support = user.groups.filter(name=SUPPORT_GROUP).exists()
    return cached


def ticket_annotations() -> dict:
    """The latest ticket of each sending, as annotations: rows show it without more queries."""
    latest = Ticket.objects.filter(sending=OuterRef("pk")).order_by("-created_at", "-id")
    return {
        "ticket_status": Subquery(latest.values("status")[:1]),
        "ticket_received": Subquery(latest.values("received_at_stop")[:1]),
        "ticket_note": Subquery(latest.values("outcome_note")[:1]),
        "ticket_kind": Subquery(latest.values("kind")[:1]),
        "ticket_subject": Subquery(latest.values("subject")[:1]),
    }


def ticket_latest(*, sending: Sending) -> Ticket | None:
    return sending.tickets.select_related("handled_by").order_by("-created_at", "-id").first()


@dataclass(frozen=True)
class Progress:
    """A sending's live progress as support sees it before deciding to stop it."""

    sent: int
    total: int
    rate: float | None  # messages a second in the running batch, since it started
    seconds_left: float | None

    @property
    def percent(self) -> int:
        return int(100 * self.sent / self.total) if self.total else 0


def _progress(sending: Sending, running: Batch | None, now: datetime) -> Progress:
    rate = seconds_left = None
    if running is not None and running.started_at:
        elapsed = (now - running.started_at).total_seconds()
        done = running.sent_count + running.failed_count
        if elapsed >= 1 and done:
            rate = done / elapsed
            seconds_left = sending.pending_count / rate
    return Progress(
        sent=sending.sent_count,
        total=sending.total_recipients,
        rate=rate,
        seconds_left=seconds_left,
    )


@dataclass(frozen=True)
class QueueEntry:
    ticket: Ticket
    progress: Progress
    age_seconds: float


def ticket_queue(*, now: datetime | None = None) -> list[QueueEntry]:
    """Open tickets, oldest first, each with its sending's live progress (two queries)."""
    now = now or timezone.now()
    tickets = list(
        Ticket.objects.filter(status=Ticket.Status.OPEN)
        .select_related("sending__subaccount__account", "requested_by")
        .order_by("created_at", "id")
    )
    running = {
        batch.sending_id: batch
        for batch in Batch.objects.filter(
            sending_id__in=[t.sending_id for t in tickets], status=BatchStatus.SENDING
        )
    }
    return [
        QueueEntry(
            ticket=t,
            progress=_progress(t.sending, running.get(t.sending_id), now),
            age_seconds=(now - t.created_at).total_seconds(),
        )
        for t in tickets
    ]


def tickets_recent(*, limit: int = RECENT_LIMIT) -> QuerySet[Ticket]:
    """The latest handled tickets, newest first: what support did lately."""
    return (
        Ticket.objects.exclude(status=Ticket.Status.OPEN)
        .select_related("sending", "handled_by", "requested_by")
        .order_by("-handled_at", "-id")[:limit]
    )


def ticket_get(*, ticket_id: int) -> Ticket:
    try:
        return Ticket.objects.select_related(
            "sending__subaccount__account", "requested_by", "handled_by"
        ).get(pk=ticket_id)
    except Ticket.DoesNotExist:
        raise Http404("No such ticket.") from None


def ticket_progress(*, ticket: Ticket, now: datetime | None = None) -> Progress:
    running = Batch.objects.filter(sending_id=ticket.sending_id, status=BatchStatus.SENDING).first()
    return _progress(ticket.sending, running, now or timezone.now())
