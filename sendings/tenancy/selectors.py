"""Who belongs where: every read of a page is scoped through these (invariant 5)."""

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.http import Http404

from sendings.models import Membership, Subaccount, UserPreference

User = AbstractBaseUser | AnonymousUser


def subaccounts_for_user(*, user: User) -> QuerySet[Subaccount]:
    if not user.is_authenticated:
        return Subaccount.objects.none()
    return Subaccount.objects.filter(memberships__user=user).select_related("account")


def membership_get(*, user: User, subaccount_id: int) -> Membership:
    """The user's membership of that subaccount, or 404: outsiders learn nothing."""
    if not user.is_authenticated:
        raise Http404("No such subaccount.")
    try:
        return Membership.objects.select_related("subaccount__account").get(
            user=user, subaccount_id=subaccount_id
        )
    except Membership.DoesNotExist:
        raise Http404("No such subaccount.") from None


def user_language(*, user=None, user_id: int | None = None) -> str:
    """The language a user reads away from a browser (emails, what a task writes for them):
    their saved preference, else LANGUAGE_CODE. Either the user or their id; neither (a user
    since deleted) gives LANGUAGE_CODE."""
    if user is not None:
        code = user_preferred_language(user=user)
    else:
        code = _saved_language(user_id) if user_id is not None else ""
    return code or settings.LANGUAGE_CODE


def user_preferred_language(*, user) -> str:
    """The language the user saved, or "" when they chose none (or it is no longer offered)."""
    if user is None or not user.is_authenticated:
        return ""
    return _saved_language(user.pk)


def _saved_language(user_id: int) -> str:
    code = (
        UserPreference.objects.filter(user_id=user_id).values_list("language", flat=True).first()
    ) or ""
    return code if code in dict(settings.LANGUAGES) else ""
