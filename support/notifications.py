"""What the outbox sends for tickets (sendings.outbox): registered in SupportConfig.ready.

The outbox sits below support in the dependency order and knows nothing of tickets; these
renderers turn a ticket id into the email that is owed, when it is ready to go.
"""

from django.core.mail import EmailMessage

from sendings.outbox.registry import Kind, Wait, notification_kind_register
from support import emails, services
from support.models import Ticket

TICKET_REQUEST, TICKET_OUTCOME = services.TICKET_REQUEST, services.TICKET_OUTCOME
# Messages in flight at a stop are recorded within a second: look again this soon.
SETTLE_POLL_SECONDS = 0.5


def _request(ticket_id: int) -> EmailMessage | None:
    """Email SUPPORT_EMAIL the new request, subject exactly "Urgent Cancel Sending"."""
    ticket = Ticket.objects.select_related("requested_by", "sending").filter(pk=ticket_id).first()
    return None if ticket is None else emails.support_request(ticket)


def _outcome(ticket_id: int) -> EmailMessage | Wait | None:
    """The outcome to the requester, once its numbers are final (ticket_outcome_settle)."""
    if not Ticket.objects.filter(pk=ticket_id).exists():
        return None
    settled = services.ticket_outcome_settle(ticket_id=ticket_id)
    if settled.wait:
        return Wait(SETTLE_POLL_SECONDS)
    if settled.ticket is None:
        return None
    return emails.requester_outcome(settled.ticket)


def _outcome_sent(ticket_id: int) -> None:
    services.ticket_outcome_notified(ticket_id=ticket_id)


def register() -> None:
    notification_kind_register(TICKET_REQUEST, Kind(render=_request))
    notification_kind_register(TICKET_OUTCOME, Kind(render=_outcome, sent=_outcome_sent))
