"""GET /healthz for a load balancer or an uptime checker: JSON, no login, no secrets.

Database, Redis (the cache) and the broker are checked live; beat and the workers by the age
of their last heartbeat (config/heartbeats.py). Any failing check answers 503. Beat counts as
failing once its next tick is late by half a tick (at least half a second, for jitter): a
tick and a half after the last one. The workers' heartbeat likewise.
"""

import time

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config import heartbeats

BROKER_TIMEOUT_SECONDS = 2


def _live(probe) -> dict:
    began = time.monotonic()
    try:
        probe()
    except Exception as error:  # whatever the client raises, the service is not usable
        return {"status": "failing", "age_seconds": 0.0, "error": error.__class__.__name__}
    return {"status": "ok", "age_seconds": 0.0, "ms": round((time.monotonic() - began) * 1000)}


def _database() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        connection.close()  # a broken connection must not make the next check fail too
        raise


def _cache() -> None:
    from django.core.cache import cache

    cache.set("health:probe", 1, timeout=30)
    if cache.get("health:probe") != 1:
        raise RuntimeError("cache read back nothing")


def _broker() -> None:
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT_SECONDS
        )
        conn.default_channel  # noqa: B018 (opening a channel pings a Redis broker)


def _heartbeat(key: str, stale_after: float) -> dict:
    try:
        age = heartbeats.heartbeat_age(key)
    except Exception as error:  # the cache is down: no way to tell
        return {"status": "failing", "age_seconds": None, "error": error.__class__.__name__}
    if age is None or age > stale_after:
        return {"status": "failing", "age_seconds": None if age is None else round(age, 1)}
    return {"status": "ok", "age_seconds": round(age, 1)}


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    tick = settings.DISPATCH_TICK_SECONDS
    stale_after = tick + max(tick / 2, 0.5)
    checks = {
        "database": _live(_database),
        "redis": _live(_cache),
        "broker": _live(_broker),
        "beat": _heartbeat(heartbeats.BEAT, stale_after),
        "worker": _heartbeat(heartbeats.WORKER, stale_after),
    }
    ok = all(check["status"] == "ok" for check in checks.values())
    return JsonResponse(
        {"status": "ok" if ok else "failing", "checks": checks}, status=200 if ok else 503
    )
