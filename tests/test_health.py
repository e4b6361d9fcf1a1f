"""GET /healthz and the 503 page (the end-to-end cases with real outages: tests/test_faults.py)."""

import json
import time

import pytest
from django.core.cache import cache
from django.db import OperationalError
from django.test import Client

from config import heartbeats

pytestmark = pytest.mark.django_db

UNREACHABLE_REDIS = "redis://127.0.0.1:9/0"  # the discard port: nothing listens there


def healthz(client) -> tuple[int, dict]:
    response = client.get("/healthz")
    assert response["Content-Type"] == "application/json"
    return response.status_code, json.loads(response.content)


def test_everything_up_and_fresh_heartbeats_is_200_without_login(client):
    heartbeats.heartbeat(heartbeats.BEAT)
    heartbeats.heartbeat(heartbeats.WORKER)

    status, answer = healthz(client)

    assert status == 200
    assert answer["status"] == "ok"
    assert set(answer["checks"]) == {"database", "redis", "broker", "beat", "worker"}
    assert all(check["status"] == "ok" for check in answer["checks"].values())
    assert answer["checks"]["beat"]["age_seconds"] < 2


def test_no_heartbeat_from_beat_or_workers_is_503(client):
    status, answer = healthz(client)

    assert status == 503
    assert answer["checks"]["beat"] == {"status": "failing", "age_seconds": None}
    assert answer["checks"]["worker"]["status"] == "failing"
    assert answer["checks"]["database"]["status"] == "ok"


def test_a_beat_that_missed_a_tick_is_failing(client, settings):
    settings.DISPATCH_TICK_SECONDS = 1
    cache.set(heartbeats.BEAT, time.time() - 2.5, timeout=None)
    heartbeats.heartbeat(heartbeats.WORKER)

    status, answer = healthz(client)

    assert status == 503
    assert answer["checks"]["beat"]["status"] == "failing"
    assert answer["checks"]["beat"]["age_seconds"] == pytest.approx(2.5, abs=0.5)
    assert answer["checks"]["worker"]["status"] == "ok"


def test_an_unreachable_redis_is_failing_and_the_answer_names_no_address(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": UNREACHABLE_REDIS,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }

    response = client.get("/healthz")

    assert response.status_code == 503
    answer = json.loads(response.content)
    assert answer["checks"]["redis"]["status"] == "failing"
    assert answer["checks"]["beat"]["status"] == "failing"
    for secret in ("127.0.0.1", "redis://", "postgres", "password"):
        assert secret not in response.content.decode()


def test_an_unreachable_service_in_a_page_is_a_503_page_not_a_500(monkeypatch):
    def unreachable(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("django.contrib.auth.views.LoginView.get", unreachable)
    client = Client(raise_request_exception=False)

    response = client.get("/accounts/login/")

    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    assert b"Temporarily unavailable" in response.content


def test_other_errors_stay_500(monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError

    monkeypatch.setattr("django.contrib.auth.views.LoginView.get", broken)
    client = Client(raise_request_exception=False)

    assert client.get("/accounts/login/").status_code == 500
