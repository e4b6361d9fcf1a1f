"""A request that fails because PostgreSQL, Redis or the broker is unreachable is a 503
("try again shortly"), not a 500: nothing is wrong with the request or the code."""

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.template.loader import render_to_string
from django.views.defaults import server_error


def _outage_errors() -> tuple[type[BaseException], ...]:
    import kombu.exceptions
    import redis.exceptions

    return (
        OperationalError,
        InterfaceError,
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        kombu.exceptions.OperationalError,
    )


def server_error_or_unavailable(request: HttpRequest) -> HttpResponse:
    error = sys.exc_info()[1]
    if isinstance(error, _outage_errors()):
        # Rendered without the request: its session and user may be what is unreachable.
        response = HttpResponse(render_to_string("503.html"), status=503)
        response["Retry-After"] = "10"
        return response
    try:
        return server_error(request)
    except Exception:  # the 500 page needs nothing, but never fail while failing
        return HttpResponseServerError("Server error")
