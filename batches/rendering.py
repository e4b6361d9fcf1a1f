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

from batches.dkim import DkimSigner, dkim_signer
from batches.mime import PreparedMessage, encode_address, envelope_address
from sendings.models import Sending
from sendings.unsubscribe.tokens import unsubscribe_token

# Personalization is plain substitution, never the template engine: sending content is
# written by customers, and a template tag in it must not reach our templates or settings.
PLACEHOLDER = re.compile(r"\{\{\s*(name|email)\s*\}\}")


class Addressee(Protocol):
    """Whom a message goes to: a delivery's claim, or a test send's address."""

    email: str
    name: str
    contact_id: int | None  # None: not a contact of the subaccount (a test send)


@dataclass(frozen=True)
class Content:
    """What every message of a sending shares, read once per task."""

    sending_id: int
    identifier: str
    subject: str
    from_email: str
    html: str
    text: str
    unsubscribe_to: str
    boundary: str
    envelope_from: str
    unsubscribe_url: str  # the one-click link without its token
    dkim: DkimSigner | None

    @classmethod
    def of(cls, sending: Sending) -> "Content":
        return cls(
            sending_id=sending.pk,
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
            unsubscribe_url=f"{settings.SITE_URL}/u/",
            dkim=dkim_signer(),
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
    token = unsubscribe_token(sending_id=content.sending_id, contact_id=claim.contact_id)
    message = PreparedMessage(
        subject=personalize(content.subject, claim),
        body=personalize(content.text, claim),
        from_email=content.from_email,
        to=[encode_address(claim.name, claim.email)],
        headers={
            # RFC 8058 one-click (the https link) first, the mailbox for older clients.
            "List-Unsubscribe": (
                f"<{content.unsubscribe_url}{token}/>, "
                f"<mailto:{content.unsubscribe_to}?subject={quote(unsubscribe)}>"
            ),
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "X-Sending-Id": content.identifier,
        },
    )
    message.boundary = content.boundary
    message.envelope_from = content.envelope_from
    message.envelope_to = envelope_address(claim.email)
    message.dkim = content.dkim
    if content.html:
        message.attach_alternative(personalize(content.html, claim, as_html=True), "text/html")
    return message
