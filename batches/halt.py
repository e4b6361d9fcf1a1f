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

import select
import time

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

HALT_TTL_SECONDS = 24 * 3600
# A stop that is being written pauses the batch's workers for at most this long: if it rolls
# back (or its process dies), delivery resumes by itself.
PAUSE_SECONDS = 5.0
CHANNEL = "sendings:batch-halted"


def _key(batch_id: int) -> str:
    return f"batch-halted:{batch_id}"


def _redis():
    """The default cache's Redis client, or None when the cache is not Redis."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    return backend, backend._cache.get_client(write=True)


def _publish(event: str, batch_id: int) -> None:
    redis = _redis()
    if redis is not None:
        redis[1].publish(CHANNEL, f"{event}:{batch_id}")


def halt_announce(batch_id: int) -> None:
    """The stop or cancel committed: workers stop before their next message."""
    cache.set(_key(batch_id), True, timeout=HALT_TTL_SECONDS)
    _publish("halt", batch_id)


def halt_pending(batch_id: int) -> None:
    """A stop holds the batch's locks and is being written: workers wait before sending more.

    Canceling every pending recipient of a large batch takes a few hundred milliseconds;
    without this, workers would keep sending until it commits. Nothing is decided here: a
    worker resumes if no halt follows within PAUSE_SECONDS (the stop rolled back).
    """
    _publish("pause", batch_id)


def halt_announced(batch_id: int) -> bool:
    return bool(cache.get(_key(batch_id), False))


class HaltWatch:
    """One worker's view of one batch's halt signal, checked before every message.

    Use as a context manager: it subscribes on entry and unsubscribes on exit.
    """

    def __init__(self, batch_id: int):
        self.batch_id = batch_id
        self.halted = False
        self.paused_at: float | None = None
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
            self.socket = self.pubsub.connection._sock
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
        # Nothing arrived unless the subscription's socket has data (a select, ~2 us; the
        # drains below always read until nothing is buffered).
        if self.paused_at is None and not select.select([self.socket], [], [], 0)[0]:
            return False
        self._drain()
        while self.paused_at is not None and not self.halted:
            if time.monotonic() - self.paused_at > PAUSE_SECONDS:
                self.paused_at = None  # the stop did not commit: carry on
                break
            self._drain(timeout=0.01)
        return self.halted

    def _drain(self, timeout: float = 0) -> None:
        halt, pause = f"halt:{self.batch_id}".encode(), f"pause:{self.batch_id}".encode()
        while (message := self.pubsub.get_message(timeout=timeout)) is not None:
            timeout = 0
            if message.get("type") != "message":
                continue
            if message.get("data") == halt:
                self.halted = True
            elif message.get("data") == pause:
                self.paused_at = time.monotonic()
