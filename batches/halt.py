"""The cheap "stop now" signal a delivering worker checks before each message.

The database stays the truth (a worker re-reads the batch status at every claim and every
record); this signal only lets a stop reach a worker between two messages without a query
per message. It is given after the cancel or stop commits, never before: a rolled-back stop
must not halt anything.

On Redis the signal is a key (for workers that start later) and a message on a pub/sub
channel (for workers delivering now). A delivering worker subscribes once per task and then
checks before each message whether anything arrived on its socket: no round trip, a few
microseconds. Anywhere else (the embedded file cache) it reads the key before each message.
"""

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

HALT_TTL_SECONDS = 24 * 3600
CHANNEL = "sendings:batch-halted"


def _key(batch_id: int) -> str:
    return f"batch-halted:{batch_id}"


def _redis():
    """The default cache's Redis client, or None when the cache is not Redis."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    return backend, backend._cache.get_client(write=True)


def halt_announce(batch_id: int) -> None:
    cache.set(_key(batch_id), True, timeout=HALT_TTL_SECONDS)
    redis = _redis()
    if redis is not None:
        redis[1].publish(CHANNEL, str(batch_id))


def halt_announced(batch_id: int) -> bool:
    return bool(cache.get(_key(batch_id), False))


class HaltWatch:
    """One worker's view of one batch's halt signal, checked before every message.

    Use as a context manager: it subscribes on entry and unsubscribes on exit.
    """

    def __init__(self, batch_id: int):
        self.batch_id = batch_id
        self.halted = False
        self.pubsub = None

    def __enter__(self) -> "HaltWatch":
        redis = _redis()
        if redis is not None:
            backend, client = redis
            self.pubsub = client.pubsub(ignore_subscribe_messages=False)
            self.pubsub.subscribe(CHANNEL)
            # Wait for the subscription to be in place before reading the key: a stop that
            # commits after this read is then certain to reach us as a message.
            self.pubsub.get_message(timeout=5)
            self.halted = bool(client.exists(backend.make_and_validate_key(_key(self.batch_id))))
        return self

    def __exit__(self, *exc) -> None:
        if self.pubsub is not None:
            self.pubsub.close()
            self.pubsub = None

    def announced(self) -> bool:
        if self.halted:
            return True
        if self.pubsub is None:
            self.halted = halt_announced(self.batch_id)
            return self.halted
        wanted = str(self.batch_id).encode()
        while (message := self.pubsub.get_message(timeout=0)) is not None:
            if message.get("type") == "message" and message.get("data") == wanted:
                self.halted = True
        return self.halted
