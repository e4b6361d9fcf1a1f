"""What a user sets for themselves: their language."""

from django.conf import settings
from django.utils.translation import gettext as _

from sendings.exceptions import DomainError
from sendings.models import UserPreference


def user_language_save(*, user, language: str) -> UserPreference:
    """Save the language the user reads (one of settings.LANGUAGES; code `unknown_language`
    otherwise): their pages and the emails they receive follow it."""
    if language not in dict(settings.LANGUAGES):
        raise DomainError(_("Unknown language."), code="unknown_language")
    preference, _created = UserPreference.objects.update_or_create(
        user=user, defaults={"language": language}
    )
    return preference
