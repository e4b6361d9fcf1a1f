"""The language menu of the top bar: a POST that switches the language and goes back.

A signed-in user's choice is saved on them (their pages and emails follow it everywhere);
anyone's choice is also kept in the language cookie, so the login page and other pages
without a user follow it too.
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from sendings.pages.shell import redirect_back
from sendings.tenancy.language import remember_language
from sendings.tenancy.services import user_language_save

# A year: the choice outlives the session, as the browser's own setting would.
COOKIE_MAX_AGE = 365 * 24 * 3600


@require_POST
def language_set(request: HttpRequest) -> HttpResponse:
    """Switch to `language` (one of settings.LANGUAGES, else 400) and go back to `next` (a
    path of ours, else the home page)."""
    code = request.POST.get("language", "")
    if code not in dict(settings.LANGUAGES):
        return HttpResponse(
            _("Choose one of the languages offered."),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    if request.user.is_authenticated:
        user_language_save(user=request.user, language=code)
        remember_language(request, code)
    translation.activate(code)
    fallback = reverse("home" if request.user.is_authenticated else "login")
    response = redirect_back(request, fallback)
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        code,
        max_age=COOKIE_MAX_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return response
