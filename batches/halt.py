"""The cheap "stop now" signal a delivering worker checks before each message.

The database stays the truth (a worker re-reads the batch status at every claim and every
record); this signal only lets a stop reach a worker between two messages without a query
per message. It is given after the cancel or stop commits, never before: a rolled-back stop
must not halt anything.

On Redis the signal is a key (for workers that start later) and a message on a pub/sub
channel (for workers delivering now). A delivering worker subscribes once per task and then
checks before each message whether anything arrived on its socket: no round trip, a few
microseconds. Anywhere else (the embedded file cache) it reads the key before each message.

The signal is best effort: when Redis is down a stop still commits (announcing it logs a
warning), and a worker whose subscription broke carries on without it, subscribing again
every RESUBSCRIBE_SECONDS; meanwhile it learns of a stop from the database at its next
record, at most DELIVERY_RECORD_SECONDS later.

The keys live in a cache of their own (the `signals` alias): a full page cache evicts old
keys to make room (the file cache culls at random), and no amount of page traffic may
evict a stop.
"""

import contextlib
import logging
import select
import time

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

HALT_TTL_SECONDS = 24 * 3600
# A stop that is being written pauses the batch's workers for at most this long: if it rolls
# back (or its process dies), delivery resumes by itself.
PAUSE_SECONDS = 5.0
CHANNEL = "sendings:batch-halted"
SIGNALS_CACHE = "signals"
RESUBSCRIBE_SECONDS = 1.0
# What a broken subscription raises: Redis errors, and a closed or missing socket in select().
SIGNAL_ERRORS = (RedisError, OSError, ValueError, TypeError, AttributeError)


def _key(batch_id: int) -> str:
    return f"batch-halted:{batch_id}"


def _redis():
    """The signals cache's Redis client, or None when that cache is not Redis."""
    backend = caches[SIGNALS_CACHE]
    if not isinstance(backend, RedisCache):
        return None
    return backend, backend._cache.get_client(write=True)


def _publish(event: str, batch_id: int) -> None:
    redis = _redis()
    if redis is not None:
        redis[1].publish(CHANNEL, f"{event}:{batch_id}")


def halt_announce(batch_id: int) -> None:
    """The stop or cancel committed: workers stop before their next message."""
    try:
        caches[SIGNALS_CACHE].set(_key(batch_id), True, timeout=HALT_TTL_SECONDS)
        _publish("halt", batch_id)
    except SIGNAL_ERRORS as error:
        log.warning("Halt of batch %s not announced (%s): workers read it at their next record",
                    batch_id, error)  # fmt: skip


def halt_pending(batch_id: int) -> None:
    """A stop holds the batch's locks and is being written: workers wait before sending more.

    Canceling every pending recipient of a large batch takes a few hundred milliseconds;
    without this, workers would keep sending until it commits. Nothing is decided here: a
    worker resumes if no halt follows within PAUSE_SECONDS (the stop rolled back).
    A Redis that is down must not roll the stop back: the pause is then skipped.
    """
    try:
        _publish("pause", batch_id)
    except SIGNAL_ERRORS as error:
        log.warning("Pause of batch %s not announced (%s)", batch_id, error)


def halt_clear(batch_id: int) -> None:
    """A paused batch was resumed: workers queued from now on deliver it again."""
    try:
        caches[SIGNALS_CACHE].delete(_key(batch_id))
    except SIGNAL_ERRORS as error:
        # The database is the truth: a worker that still sees the key re-reads the batch.
        log.warning("Halt of batch %s not cleared (%s)", batch_id, error)


def halt_announced(batch_id: int) -> bool:
    """Whether a halt was announced; False when that cannot be read (the database tells)."""
    try:
        return bool(caches[SIGNALS_CACHE].get(_key(batch_id), False))
    except SIGNAL_ERRORS:
        return False


class HaltWatch:
    """One worker's view of one batch's halt signal, checked before every message.

    Use as a context manager: it subscribes on entry and unsubscribes on exit.
    """

    def __init__(self, batch_id: int):
        self.batch_id = batch_id
        self.halted = False
        self.paused_at: float | None = None
        self.pubsub = None
        self.on_redis = False
        self.resubscribe_at: float | None = None  # set while the subscription is broken

    def __enter__(self) -> "HaltWatch":
        self.on_redis = _redis() is not None
        if self.on_redis:
            self._subscribe()
        return self

    def __exit__(self, *exc) -> None:
        self._unsubscribe()

    def _subscribe(self) -> None:
        backend, client = _redis()
        try:
            self.pubsub = client.pubsub(ignore_subscribe_messages=False)
            self.pubsub.subscribe(CHANNEL)
            # Wait for the subscription to be in place before reading the key: a stop that
            # commits after this read is then certain to reach us as a message.
            self.pubsub.get_message(timeout=5)
            self.socket = self.pubsub.connection._sock
            key = backend.make_and_validate_key(_key(self.batch_id))
            self.halted = self.halted or bool(client.exists(key))
        except SIGNAL_ERRORS as error:
            self._broken(error)
        else:
            if self.resubscribe_at is not None:
                log.warning("Halt signal of batch %s is back", self.batch_id)
            self.resubscribe_at = None

    def _unsubscribe(self) -> None:
        if self.pubsub is not None:
            with contextlib.suppress(SIGNAL_ERRORS):
                self.pubsub.close()
            self.pubsub = None

    def _broken(self, error: Exception) -> None:
        if self.resubscribe_at is None:
            log.warning("Halt signal of batch %s lost (%s); the database tells until it is "
                        "back", self.batch_id, error)  # fmt: skip
        self._unsubscribe()
        self.paused_at = None
        self.resubscribe_at = time.monotonic() + RESUBSCRIBE_SECONDS

    def announced(self) -> bool:
        if self.halted:
            return True
        if not self.on_redis:
            self.halted = halt_announced(self.batch_id)
            return self.halted
        if self.resubscribe_at is not None:
            if time.monotonic() < self.resubscribe_at:
                return False
            self._subscribe()
            if self.resubscribe_at is not None:
                return False
        try:
            # Nothing arrived unless the subscription's socket has data (a select, ~2 us;
            # the drains below always read until nothing is buffered).
            if self.paused_at is None and not select.select([self.socket], [], [], 0)[0]:
                return False
            self._drain()
            while self.paused_at is not None and not self.halted:
                if time.monotonic() - self.paused_at > PAUSE_SECONDS:
                    self.paused_at = None  # the stop did not commit: carry on
                    break
                self._drain(timeout=0.01)
        except SIGNAL_ERRORS as error:
            self._broken(error)
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
