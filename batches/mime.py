"""Fast MIME assembly for bulk messages.

Django's EmailMessage.message() builds each message with the email package's header
registry, which parses every header it sets: about 1 ms a message here, more than the SMTP
round trip itself. A campaign's messages differ only in the recipient, so we assemble the
bytes directly: headers encoded once per sending where possible, bodies as 7bit when they
are plain ASCII and quoted-printable otherwise, CRLF line endings as SMTP wants.
`PreparedMessage` is still a Django EmailMultiAlternatives, so every email backend (SMTP,
file, console, locmem) takes it unchanged.
"""

import base64
import binascii
import copy
import email.policy
import secrets
from email.utils import formataddr, formatdate, make_msgid

from django.core.mail import EmailMultiAlternatives
from django.core.mail.utils import DNS_NAME
from django.utils.translation import gettext

CRLF = b"\r\n"
MAX_LINE = 998  # RFC 5322 line length limit, CRLF excluded


def header_safe(value: str) -> str:
    """No CR or LF may reach a header: that would let a contact's name inject headers."""
    return value.replace("\r", " ").replace("\n", " ")


# RFC 2047: an encoded word is at most 75 characters; "=?utf-8?b?" + "?=" leave 63 for
# base64, which is 45 bytes of UTF-8.
WORD_BYTES = 45


def encode_words(value: str) -> str:
    """RFC 2047 base64 encoded words, folded, never splitting a character.

    The email package's Header.encode does the same in about 60 us; this takes about 2.
    """
    words, chunk, size = [], [], 0
    for char in value:
        width = len(char.encode("utf-8"))
        if size + width > WORD_BYTES:
            words.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(char)
        size += width
    words.append("".join(chunk))
    return "\r\n ".join(
        f"=?utf-8?b?{base64.b64encode(word.encode('utf-8')).decode('ascii')}?=" for word in words
    )


def encode_header(value: str) -> str:
    value = header_safe(value)
    if value.isascii() and len(value) < 900:
        return value
    return encode_words(value)


def encode_address(name: str, address: str) -> str:
    """`"Name" <local@domain>`, the name RFC 2047-encoded if needed, the domain in IDNA."""
    wire = envelope_address(address)
    name = header_safe(name)
    if name.isascii():
        return formataddr((name, wire))
    return f"{encode_words(name)} <{wire}>"


# RFC 5321: at most 64 octets before the @, 255 after it, 254 for the whole path.
LOCAL_MAX, ADDRESS_MAX = 64, 254


def address_wire_problem(address: str) -> str | None:
    """Why `address` cannot go on the wire (SMTP envelope, From/To/List-Unsubscribe), in
    words for the user; None when it can.

    The one rule for forms and delivery alike: an ASCII local part (no SMTPUTF8), a domain
    name that IDNA-encodes (not an [ip] literal), and parts no longer than SMTP allows.
    """
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return gettext("An email address needs a name, an @ and a domain.")
    if not local.isascii():
        return gettext("The part before the @ must use plain letters, digits and . _ + - only.")
    if len(local) > LOCAL_MAX:
        return gettext("The part before the @ is longer than %(count)s characters.") % {
            "count": LOCAL_MAX
        }
    if domain.startswith("["):
        return gettext("Use a domain name after the @, not an IP address.")
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return gettext("“%(domain)s” is not a domain name that mail can be sent to.") % {
            "domain": domain
        }
    if len(local) + 1 + len(ascii_domain) > ADDRESS_MAX:
        return gettext("The address is longer than %(count)s characters once encoded for mail.") % {
            "count": ADDRESS_MAX
        }
    return None


def envelope_address(address: str) -> str:
    """The SMTP envelope form of an address: IDNA domain, ASCII local part.

    ValueError for an address that cannot go on the wire (`address_wire_problem`)."""
    problem = address_wire_problem(address)
    if problem is not None:
        raise ValueError(f"{address!r}: {problem}")
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain if domain.isascii() else domain.encode('idna').decode('ascii')}"


def body_part(text: str) -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, payload) for a text body, lines ending in CRLF."""
    data = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    if data.isascii() and all(len(line) <= MAX_LINE for line in data.split(b"\n")):
        return "7bit", data.replace(b"\n", CRLF)
    return "quoted-printable", binascii.b2a_qp(data).replace(b"\n", CRLF)


def _part(subtype: str, text: str) -> bytes:
    encoding, payload = body_part(text)
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
    ).encode("ascii") + payload


class _RawMessage:
    """What backends call `.message()` for: it only needs to give its bytes."""

    def __init__(self, raw: bytes):
        self.raw = raw

    def as_bytes(self, *args, **kwargs) -> bytes:
        return self.raw

    def as_string(self, *args, **kwargs) -> str:
        return self.raw.decode("ascii", errors="replace")

    def get_charset(self):
        return None

    def __str__(self) -> str:
        return self.as_string()


class PreparedMessage(EmailMultiAlternatives):
    """An EmailMultiAlternatives whose MIME form is assembled by this module.

    `envelope_from` and `envelope_to` are the SMTP envelope, already in wire form, so the
    bulk SMTP backend (batches.mail) need not parse the headers back to find them.
    """

    boundary: str = ""
    envelope_from: str = ""
    envelope_to: str = ""
    dkim = None  # a batches.dkim.DkimSigner: the bytes are signed as they are assembled

    def __deepcopy__(self, memo):
        # The locmem backend deep-copies every message; a prepared one is never changed
        # after it is built, so a copy of its containers is enough.
        clone = copy.copy(self)
        clone.to, clone.alternatives = list(self.to), list(self.alternatives)
        clone.extra_headers = dict(self.extra_headers)
        return clone

    def message(self, *, policy=email.policy.default):
        return _RawMessage(self.as_raw())

    def as_raw(self) -> bytes:
        raw = self._assemble()
        return self.dkim.sign(raw) if self.dkim is not None else raw

    def _assemble(self) -> bytes:
        headers = [
            f"From: {self.from_email}",
            f"To: {self.to[0]}",
            f"Subject: {encode_header(self.subject)}",
            f"Date: {formatdate(usegmt=True)}",
            f"Message-ID: {make_msgid(domain=DNS_NAME)}",
            "MIME-Version: 1.0",
        ]
        headers += [f"{name}: {header_safe(value)}" for name, value in self.extra_headers.items()]
        head = "\r\n".join(headers).encode("ascii") + CRLF
        if not self.alternatives:
            return head + _part("plain", self.body)
        boundary = self.boundary or f"=_{secrets.token_hex(12)}"
        delimiter = f"--{boundary}\r\n".encode("ascii")
        body = CRLF.join(
            [
                f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n'.encode("ascii"),
                delimiter + _part("plain", self.body),
                *(delimiter + _part("html", content) for content, _ in self.alternatives),
                f"--{boundary}--\r\n".encode("ascii"),
            ]
        )
        return head + body
