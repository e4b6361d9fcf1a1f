"""The cheap "stop now" signal a delivering worker checks before each message.

The database stays the truth (a worker re-reads the batch status at every chunk); this key
only lets a stop reach a worker between two messages without a query per message. It is set
after the cancel or stop commits, never before: a rolled-back stop must not halt anything.
"""

from django.core.cache import cache

HALT_TTL_SECONDS = 24 * 3600


def _key(batch_id: int) -> str:
    return f"batch-halted:{batch_id}"


def halt_announce(batch_id: int) -> None:
    cache.set(_key(batch_id), True, timeout=HALT_TTL_SECONDS)


def halt_announced(batch_id: int) -> bool:
    return bool(cache.get(_key(batch_id), False))
