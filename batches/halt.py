"""The cheap "stop now" signal a delivering worker checks before each message.

The database stays the truth (a worker re-reads the batch status at every chunk); this key
only lets a stop reach a worker between two messages without a query per message. It is set
after the cancel or stop commits, never before: a rolled-back stop must not halt anything.
"""

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

HALT_TTL_SECONDS = 24 * 3600


def _key(batch_id: int) -> str:
    return f"batch-halted:{batch_id}"


def halt_announce(batch_id: int) -> None:
    cache.set(_key(batch_id), True, timeout=HALT_TTL_SECONDS)


def halt_announced(batch_id: int) -> bool:
    return bool(cache.get(_key(batch_id), False))


class HaltWatch:
    """One worker's view of one batch's halt signal, checked before every message.

    On Redis it keeps one client and asks EXISTS: a single round trip (Django's cache API
    builds a new client object on every call, which costs more than the message).
    """

    def __init__(self, batch_id: int):
        self.batch_id = batch_id
        backend = caches["default"]
        self.client = None
        if isinstance(backend, RedisCache):
            key = _key(batch_id)
            self.client = backend._cache.get_client(key)
            self.key = backend.make_and_validate_key(key)

    def announced(self) -> bool:
        if self.client is None:
            return halt_announced(self.batch_id)
        return bool(self.client.exists(self.key))
