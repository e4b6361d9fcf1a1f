"""Which language a request is answered in.

Django's LocaleMiddleware picks the language cookie, then the browser's Accept-Language, then
LANGUAGE_CODE. For a signed-in user, the preference saved on them (UserPreference) beats all of
these: the middleware below runs after authentication and activates it. The preference is read
from the database when the user logs in (or, for a session that does not have it yet, once)
and kept in the session, so a page costs no extra query.
"""

from django.conf import settings
from django.http import HttpRequest
from django.utils import translation

from sendings.tenancy.selectors import user_preferred_language

# [user id, language code or ""]: the id guards against a session another user inherited.
SESSION_KEY = "preferred_language"


def saved_language(request: HttpRequest) -> str:
    """The signed-in user's saved language, or "" (anonymous, or none saved)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return ""
    cached = request.session.get(SESSION_KEY)
    if isinstance(cached, list) and len(cached) == 2 and cached[0] == user.pk:
        code = cached[1]
    else:
        code = user_preferred_language(user=user)
        remember_language(request, code)
    return code if code in dict(settings.LANGUAGES) else ""


def remember_on_login(sender, request: HttpRequest, user, **kwargs) -> None:
    """On user_logged_in: keep the user's saved language in their new session."""
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_KEY] = [user.pk, user_preferred_language(user=user)]


def remember_language(request: HttpRequest, code: str) -> None:
    """Keep the signed-in user's (just saved or just read) preference in their session."""
    request.session[SESSION_KEY] = [request.user.pk, code]


class UserLanguageMiddleware:
    """After AuthenticationMiddleware: a signed-in user's saved language wins."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        code = saved_language(request)
        if code:
            translation.activate(code)
            request.LANGUAGE_CODE = code
        return self.get_response(request)
