"""The signed token in every message's one-click unsubscribe link.

It names the sending and the contact (0 when the address is not a contact: a test send to
someone outside the subaccount). Signed with the project's SECRET_KEY and a salt of its own,
so it cannot be forged or enumerated, and a token of another feature never passes for one.
A core module: message rendering builds tokens, the public page reads them.
"""

from dataclasses import dataclass

from django.core import signing

SALT = "sendings.unsubscribe.one-click"
# Two base-36 numbers, a dash, the separator and a SHA-256 signature: well under this.
MAX_TOKEN_LENGTH = 100
_signer = signing.Signer(salt=SALT, sep=".")


@dataclass(frozen=True)
class UnsubscribeToken:
    sending_id: int
    contact_id: int  # 0: the message did not go to a contact


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


def unsubscribe_token(*, sending_id: int, contact_id: int | None) -> str:
    return _signer.sign(f"{_base36(sending_id)}-{_base36(contact_id or 0)}")


def unsubscribe_token_read(token: str) -> UnsubscribeToken | None:
    """The token's sending and contact, or None for anything not signed by us."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        sending, _, contact = _signer.unsign(token).partition("-")
        return UnsubscribeToken(sending_id=int(sending, 36), contact_id=int(contact, 36))
    except (signing.BadSignature, ValueError):
        return None
