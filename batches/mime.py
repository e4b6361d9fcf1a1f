"""Fast MIME assembly for bulk messages.

Django's EmailMessage.message() builds each message with the email package's header
registry, which parses every header it sets: about 1 ms a message here, more than the SMTP
round trip itself. A campaign's messages differ only in the recipient, so we assemble the
bytes directly: headers encoded once per sending where possible, bodies as 7bit when they
are plain ASCII and quoted-printable otherwise, CRLF line endings as SMTP wants.
`PreparedMessage` is still a Django EmailMultiAlternatives, so every email backend (SMTP,
file, console, locmem) takes it unchanged.
"""

import binascii
import email.policy
import secrets
from email.header import Header
from email.utils import formataddr, formatdate, make_msgid

from django.core.mail import EmailMultiAlternatives
from django.core.mail.utils import DNS_NAME

CRLF = b"\r\n"
MAX_LINE = 998  # RFC 5322 line length limit, CRLF excluded


def header_safe(value: str) -> str:
    """No CR or LF may reach a header: that would let a contact's name inject headers."""
    return value.replace("\r", " ").replace("\n", " ")


def encode_header(value: str) -> str:
    value = header_safe(value)
    if value.isascii() and len(value) < 900:
        return value
    return Header(value, "utf-8", header_name="Subject").encode(linesep="\r\n")


def encode_address(name: str, address: str) -> str:
    """`"Name" <local@domain>`, the name RFC 2047-encoded if needed, the domain in IDNA."""
    local, _, domain = address.rpartition("@")
    if not local.isascii():
        raise ValueError(f"{address!r} has a non-ASCII local part")
    if not domain.isascii():
        domain = domain.encode("idna").decode("ascii")
    return formataddr((header_safe(name), f"{local}@{domain}"), charset="utf-8")


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
    """An EmailMultiAlternatives whose MIME form is assembled by this module."""

    boundary: str = ""

    def message(self, *, policy=email.policy.default):
        return _RawMessage(self.as_raw())

    def as_raw(self) -> bytes:
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
