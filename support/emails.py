"""The two emails a ticket causes: the request to support, and its outcome to the requester.

Each is written in its reader's language: support's email in SUPPORT_LANGUAGE, the outcome in
the requester's saved language (else LANGUAGE_CODE). The subject "Urgent Cancel Sending" is a
protocol support filters on: it is the same in every language.
"""

from django.conf import settings
from django.core.mail import EmailMessage
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from batches.mime import header_safe
from sendings.formatting import thousands
from sendings.tenancy.selectors import user_language
from support.models import URGENT_CANCEL_SUBJECT, Ticket


def _requester_label(ticket: Ticket) -> str:
    user = ticket.requested_by
    email = f" <{user.email}>" if user.email else ""
    return f"{user.get_username()}{email}"


def support_request(ticket: Ticket) -> EmailMessage:
    """What customers used to write by hand, with every identifier support needs."""
    with translation.override(settings.SUPPORT_LANGUAGE):
        if ticket.is_auto_pause:
            return _support_pause(ticket)
        return _support_request(ticket)


def _sent_of(sent: int, total: int) -> str:
    return _("%(sent)s of %(total)s") % {"sent": thousands(sent), "total": thousands(total)}


def _support_request(ticket: Ticket) -> EmailMessage:
    sending = ticket.sending
    lines = [
        _("A customer asks to stop a sending in progress."),
        "",
        _("Account ID: %(value)s") % {"value": ticket.account_identifier},
        _("Sending name: %(value)s") % {"value": ticket.sending_name},
        _("Sending ID: %(value)s") % {"value": ticket.sending_identifier},
        _("Requested by: %(value)s") % {"value": _requester_label(ticket)},
        _("Sent when requested: %(value)s")
        % {"value": _sent_of(sending.sent_count, sending.total_recipients)},
        "",
        _("Message from the customer:"),
        ticket.message or _("(none)"),
        "",
        _("Open the ticket: %(url)s")
        % {"url": f"{settings.SITE_URL}{reverse('ticket_detail', args=[ticket.pk])}"},
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
        _("The platform paused a sending because too many of its messages failed."),
        "",
        _("Account ID: %(value)s") % {"value": ticket.account_identifier},
        _("Sending name: %(value)s") % {"value": ticket.sending_name},
        _("Sending ID: %(value)s") % {"value": ticket.sending_identifier},
        _("Sent so far: %(value)s")
        % {"value": _sent_of(sending.sent_count, sending.total_recipients)},
        "",
        ticket.message,
        "",
        _("Resume or stop it: %(url)s")
        % {"url": f"{settings.SITE_URL}{reverse('ticket_detail', args=[ticket.pk])}"},
    ]
    return EmailMessage(subject=ticket.subject, body="\n".join(lines), to=[settings.SUPPORT_EMAIL])


def requester_outcome(ticket: Ticket) -> EmailMessage | None:
    """The outcome, in the words the requester also sees on the sending's page."""
    if ticket.requested_by is None:  # the platform opened it (a pause): nobody to email
        return None
    to = ticket.requested_by.email
    if not to:
        return None  # the outcome still shows on the sending's row and detail page
    with translation.override(user_language(user=ticket.requested_by)):
        lines = [
            _("Your urgent cancellation request for “%(name)s” (%(identifier)s) is closed.")
            % {"name": ticket.sending_name, "identifier": ticket.sending_identifier},
            "",
            ticket.outcome_for_requester,
            "",
            _("Contacts who had already received the message cannot be recovered."),
            "",
            _("See the sending: %(url)s")
            % {
                "url": f"{settings.SITE_URL}"
                f"{reverse('sending_detail', args=[ticket.sending_identifier])}"
            },
        ]
    return EmailMessage(
        # One line whatever the name holds (names saved before forms refused line breaks).
        subject=header_safe(f"Re: {URGENT_CANCEL_SUBJECT}: {ticket.sending_name}"),
        body="\n".join(lines),
        to=[to],
        reply_to=[settings.SUPPORT_EMAIL],
    )
