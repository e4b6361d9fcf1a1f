"""What django-axes records of a login attempt: the username as typed, made safe to store.

A login form may be posted with anything in its username field (a NUL byte, which
PostgreSQL refuses in text; 100,000 characters); axes looks the attempt up and stores it
before the form has validated anything.
"""

from django.http import HttpRequest

USERNAME_MAX = 150  # django.contrib.auth's username length


def attempted_username(request: HttpRequest, credentials: dict | None = None) -> str:
    username = (credentials or {}).get("username")
    if username is None and request is not None:
        username = request.POST.get("username", "")
    text = "".join(char for char in str(username or "") if char.isprintable())
    return text[:USERNAME_MAX]


def lockout_response(request: HttpRequest, response=None, credentials: dict | None = None):
    """The page a locked-out login gets (HTTP 429): why, and when it unlocks by itself."""
    from django.conf import settings
    from django.shortcuts import render

    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    context = {
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "username": attempted_username(request, credentials),
        "minutes": minutes,
    }
    return render(request, "registration/locked_out.html", context, status=429)
