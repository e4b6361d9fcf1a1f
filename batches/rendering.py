"""Message rendering: what every message of a sending shares, and one recipient's message.

Used by delivery and by the wizard's test send, so a test looks exactly like the real thing.
"""

import html
import re
import secrets
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

from django.conf import settings

from batches.mime import PreparedMessage, encode_address, envelope_address
from sendings.models import Sending

# Personalization is plain substitution, never the template engine: sending content is
# written by customers, and a template tag in it must not reach our templates or settings.
PLACEHOLDER = re.compile(r"\{\{\s*(name|email)\s*\}\}")


class Addressee(Protocol):
    """Whom a message goes to: a delivery's claim, or a test send's address."""

    email: str
    name: str


@dataclass(frozen=True)
class Content:
    """What every message of a sending shares, read once per task."""

    identifier: str
    subject: str
    from_email: str
    html: str
    text: str
    unsubscribe_to: str
    boundary: str
    envelope_from: str

    @classmethod
    def of(cls, sending: Sending) -> "Content":
        return cls(
            identifier=sending.identifier,
            subject=sending.subject,
            from_email=encode_address(sending.from_name, sending.from_email)
            if sending.from_email
            else settings.DEFAULT_FROM_EMAIL,
            html=sending.html_body,
            text=sending.text_body,
            # In a header, so in wire form: an IDN domain IDNA-encoded.
            unsubscribe_to=envelope_address(
                settings.UNSUBSCRIBE_MAILTO or sending.from_email or settings.DEFAULT_FROM_EMAIL
            ),
            boundary=f"=_{sending.identifier}_{secrets.token_hex(8)}",
            envelope_from=envelope_address(sending.from_email or settings.DEFAULT_FROM_EMAIL),
        )


def personalize(template: str, claim: Addressee, *, as_html: bool = False) -> str:
    """Replace {{ name }} and {{ email }} with the recipient's, escaped in HTML."""

    def value(match: re.Match) -> str:
        found = claim.name if match[1] == "name" else claim.email
        return html.escape(found) if as_html else found

    return PLACEHOLDER.sub(value, template)


def message_build(content: Content, claim: Addressee) -> PreparedMessage:
    """One recipient's message. ValueError for an address that cannot go on the wire."""
    unsubscribe = f"unsubscribe {content.identifier} {claim.email}"
    message = PreparedMessage(
        subject=personalize(content.subject, claim),
        body=personalize(content.text, claim),
        from_email=content.from_email,
        to=[encode_address(claim.name, claim.email)],
        headers={
            "List-Unsubscribe": f"<mailto:{content.unsubscribe_to}?subject={quote(unsubscribe)}>",
            "X-Sending-Id": content.identifier,
        },
    )
    message.boundary = content.boundary
    message.envelope_from = content.envelope_from
    message.envelope_to = envelope_address(claim.email)
    if content.html:
        message.attach_alternative(personalize(content.html, claim, as_html=True), "text/html")
    return message
