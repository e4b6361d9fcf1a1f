"""The two emails a ticket causes: the request to support, and its outcome to the requester."""

from django.conf import settings
from django.core.mail import EmailMessage
from django.urls import reverse

from batches.mime import header_safe
from sendings.formatting import thousands
from support.models import URGENT_CANCEL_SUBJECT, Ticket


def _requester_label(ticket: Ticket) -> str:
    user = ticket.requested_by
    email = f" <{user.email}>" if user.email else ""
    return f"{user.get_username()}{email}"


def support_request(ticket: Ticket) -> EmailMessage:
    """What customers used to write by hand, with every identifier support needs."""
    if ticket.is_auto_pause:
        return _support_pause(ticket)
    sending = ticket.sending
    lines = [
        "A customer asks to stop a sending in progress.",
        "",
        f"Account ID: {ticket.account_identifier}",
        f"Sending name: {ticket.sending_name}",
        f"Sending ID: {ticket.sending_identifier}",
        f"Requested by: {_requester_label(ticket)}",
        f"Sent when requested: {thousands(sending.sent_count)} of "
        f"{thousands(sending.total_recipients)}",
        "",
        "Message from the customer:",
        ticket.message or "(none)",
        "",
        f"Open the ticket: {settings.SITE_URL}{reverse('ticket_detail', args=[ticket.pk])}",
    ]
    reply_to = [ticket.requested_by.email] if ticket.requested_by.email else []
    return EmailMessage(
        subject=URGENT_CANCEL_SUBJECT,
        body="\n".join(lines),
        to=[settings.SUPPORT_EMAIL],
        reply_to=reply_to,
    )


def _support_pause(ticket: Ticket) -> EmailMessage:
    """A batch paused itself: support resumes or stops it."""
    sending = ticket.sending
    lines = [
        "The platform paused a sending because too many of its messages failed.",
        "",
        f"Account ID: {ticket.account_identifier}",
        f"Sending name: {ticket.sending_name}",
        f"Sending ID: {ticket.sending_identifier}",
        f"Sent so far: {thousands(sending.sent_count)} of {thousands(sending.total_recipients)}",
        "",
        ticket.message,
        "",
        f"Resume or stop it: {settings.SITE_URL}{reverse('ticket_detail', args=[ticket.pk])}",
    ]
    return EmailMessage(subject=ticket.subject, body="\n".join(lines), to=[settings.SUPPORT_EMAIL])


def requester_outcome(ticket: Ticket) -> EmailMessage | None:
    """The outcome, in the words the requester also sees on the sending's page."""
    if ticket.requested_by is None:  # the platform opened it (a pause): nobody to email
        return None
    to = ticket.requested_by.email
    if not to:
        return None  # the outcome still shows on the sending's row and detail page
    lines = [
        f"Your urgent cancellation request for “{ticket.sending_name}” "
        f"({ticket.sending_identifier}) is closed.",
        "",
        ticket.outcome_for_requester,
        "",
        "Contacts who had already received the message cannot be recovered.",
        "",
        f"See the sending: {settings.SITE_URL}"
        f"{reverse('sending_detail', args=[ticket.sending_identifier])}",
    ]
    return EmailMessage(
        # One line whatever the name holds (names saved before forms refused line breaks).
        subject=header_safe(f"Re: {URGENT_CANCEL_SUBJECT}: {ticket.sending_name}"),
        body="\n".join(lines),
        to=[to],
        reply_to=[settings.SUPPORT_EMAIL],
    )
