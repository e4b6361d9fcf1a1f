"""Public identifiers: short, unguessable, stable; never derived from the row id."""

import secrets

# Crockford's base32: no I, L, O or U, so an identifier read aloud over the phone survives.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 10  # 32**10 ~ 1.1e15 values


def new_identifier(prefix: str) -> str:
    return prefix + "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def new_account_identifier() -> str:
    return new_identifier("ACC-")


def new_sending_identifier() -> str:
    return new_identifier("SND-")
