"""Ticket emails: thin tasks that load a ticket by id, ask a service, and send.

Sending mail from a task keeps the SMTP server out of the request and out of any
transaction; a refused connection is retried with backoff instead of losing the email.
"""

import smtplib

from celery import shared_task

from support import emails, services
from support.models import Ticket

MAIL_ERRORS = (smtplib.SMTPException, OSError)
SETTLE_POLL_SECONDS = 0.5


@shared_task(
    ignore_result=True,
    autoretry_for=MAIL_ERRORS,
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=20,
)
def ticket_notify_support(ticket_id: int) -> None:
    """Email SUPPORT_EMAIL the new request, subject exactly "Urgent Cancel Sending"."""
    ticket = Ticket.objects.select_related("requested_by", "sending").filter(pk=ticket_id).first()
    if ticket is None:
        return
    emails.support_request(ticket).send()


@shared_task(
    bind=True,
    ignore_result=True,
    autoretry_for=MAIL_ERRORS,
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=20,
)
def ticket_notify_outcome(self, ticket_id: int) -> None:
    """Email the requester the outcome once its numbers are final (see ticket_outcome_settle)."""
    if not Ticket.objects.filter(pk=ticket_id).exists():
        return
    settled = services.ticket_outcome_settle(ticket_id=ticket_id)
    if settled.wait:  # messages in flight at the stop: their workers record them shortly
        raise self.retry(countdown=SETTLE_POLL_SECONDS, max_retries=None)
    if settled.ticket is None:
        return
    message = emails.requester_outcome(settled.ticket)
    if message is not None:
        message.send()
    services.ticket_outcome_notified(ticket=settled.ticket)
