"""When beat last ticked and a worker was last alive, kept in the cache for GET /healthz.

Best effort: a heartbeat that cannot be written (the cache is down) is skipped, and /healthz
then reports the cache itself as failing.
"""

import logging
import threading
import time

from django.core.cache import cache

log = logging.getLogger(__name__)

BEAT = "health:beat-tick"
WORKER = "health:worker-alive"


def heartbeat(key: str) -> None:
    try:
        cache.set(key, time.time(), timeout=None)
    except Exception as error:  # any cache outage: the next beat tries again
        log.debug("heartbeat %s not written: %s", key, error)


def heartbeat_age(key: str) -> float | None:
    """Seconds since the heartbeat, None if there is none. Raises if the cache is down."""
    stamp = cache.get(key)
    return None if stamp is None else max(0.0, time.time() - float(stamp))


def worker_heartbeat_start(every: float) -> threading.Thread:
    """A daemon thread of the worker's main process: alive while the process is, even
    when its pool is busy with a long delivery task."""

    def beat() -> None:
        while True:
            heartbeat(WORKER)
            time.sleep(every)

    thread = threading.Thread(target=beat, name="health-heartbeat", daemon=True)
    thread.start()
    return thread
