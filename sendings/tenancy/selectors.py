"""Who belongs where: every read of a page is scoped through these (invariant 5)."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.http import Http404

from sendings.models import Membership, Subaccount

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
