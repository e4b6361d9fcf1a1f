"""What the public unsubscribe page reads: the contact a token names, if it still exists."""

from sendings.models import Contact
from sendings.unsubscribe.tokens import UnsubscribeToken


def contact_for_token(token: UnsubscribeToken) -> Contact | None:
    """The contact the token names, in the subaccount of the sending it names (else None)."""
    if not token.contact_id:
        return None
    return (
        Contact.objects.filter(pk=token.contact_id, subaccount__sendings__pk=token.sending_id)
        .select_related("subaccount")
        .first()
    )


def email_masked(email: str) -> str:
    """ "ana.lopez@example.com" -> "a********@example.com": enough to recognise, not to harvest."""
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}{'*' * max(len(local) - 1, 3)}@{domain}"
