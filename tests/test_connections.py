"""Web processes keep their PostgreSQL connection from one request to the next, and one that
the database cut (a restart, an idle timeout) is replaced before a request uses it."""

import json

import psycopg
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.test import RequestFactory

from tests.workers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def wsgi_get(path: str) -> tuple[str, bytes]:
    """One request through Django's WSGI handler, as gunicorn makes it (the test client
    skips the connection handling that runs at the start and the end of each request)."""
    environ = RequestFactory()._base_environ(PATH_INFO=path, REQUEST_METHOD="GET")
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"] = status

    response = WSGIHandler()(environ, start_response)
    try:
        body = b"".join(response)
    finally:
        response.close()  # request_finished: where Django closes connections it does not keep
    return answer["status"], body


def backend_pid() -> int | None:
    return connection.connection.info.backend_pid if connection.connection else None


def terminate(pid: int) -> None:
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
        wait_for(
            lambda: (
                not other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
            ),
            timeout=10,
            what="the backend to exit",
        )


def test_the_connection_is_kept_between_requests_and_a_cut_one_is_replaced():
    wsgi_get("/healthz")
    first = backend_pid()
    assert first is not None, "the request closed its connection"

    wsgi_get("/healthz")
    assert backend_pid() == first  # the same connection served the second request

    terminate(first)
    status, body = wsgi_get("/healthz")

    assert json.loads(body)["checks"]["database"]["status"] == "ok", status
    assert backend_pid() not in (None, first)
