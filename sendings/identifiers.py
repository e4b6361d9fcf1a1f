"""Public identifiers: short, unguessable, stable; never derived from the row id."""

import secrets

# Crockford's base32: no I, L, O or U, so an identifier read aloud over the phone survives.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 10  # 32**10 ~ 1.1e15 values


SENDING_PREFIX = "SND-"


def new_identifiers(prefix: str, count: int) -> list[str]:
    """`count` identifiers (possibly repeating; callers check against the unique column).

    Drawn in bulk from the OS's random source: a byte & 31 picks one of the 32 letters
    without bias, and one read serves them all (100,000 secrets.choice loops cost seconds).
    """
    randomness = secrets.token_bytes(count * LENGTH)
    return [
        prefix + "".join(ALPHABET[b & 31] for b in randomness[i : i + LENGTH])
        for i in range(0, len(randomness), LENGTH)
    ]


def new_identifier(prefix: str) -> str:
    return new_identifiers(prefix, 1)[0]


def new_account_identifier() -> str:
    return new_identifier("ACC-")


def new_sending_identifier() -> str:
    return new_identifier(SENDING_PREFIX)
