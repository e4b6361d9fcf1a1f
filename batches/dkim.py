"""DKIM signing of the bytes a message goes out as (dkimpy).

`batches.mime` assembles each message's bytes itself, so the signature is computed over
exactly those bytes and prepended as the DKIM-Signature header. The key was checked when the
settings were read (a malformed one stops start-up); here it is only used.
"""

import functools
from dataclasses import dataclass

import dkim
from django.conf import settings

# RFC 8058 requires List-Unsubscribe and List-Unsubscribe-Post to be signed, so nobody can
# swap the unsubscribe link of a signed message. Headers listed but absent are signed as
# absent: none can be added later without breaking the signature.
SIGNED_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Reply-To",
)


@dataclass(frozen=True)
class DkimSigner:
    domain: str
    selector: str
    private_key: bytes  # PEM

    def sign(self, raw: bytes) -> bytes:
        """The message with its DKIM-Signature header first (relaxed/simple, rsa-sha256)."""
        signature = dkim.sign(
            raw,
            self.selector.encode("ascii"),
            self.domain.encode("ascii"),
            self.private_key,
            include_headers=[name.encode("ascii") for name in SIGNED_HEADERS],
            linesep=b"\r\n",
        )
        return signature + raw


@functools.lru_cache(maxsize=4)
def _signer(domain: str, selector: str, private_key: str) -> DkimSigner:
    return DkimSigner(domain=domain, selector=selector, private_key=private_key.encode("ascii"))


def dkim_signer() -> DkimSigner | None:
    """The signer the settings describe, or None when DKIM is not configured."""
    if not (settings.DKIM_DOMAIN and settings.DKIM_SELECTOR and settings.DKIM_PRIVATE_KEY):
        return None
    return _signer(settings.DKIM_DOMAIN, settings.DKIM_SELECTOR, settings.DKIM_PRIVATE_KEY)
