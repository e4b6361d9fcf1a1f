"""Reads used by views. Every read is scoped to the subaccounts the user belongs to."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Q, QuerySet
from django.http import Http404

from sendings.models import Membership, Sending, SendingStatus, Subaccount

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


def sendings_for_user(*, user: User) -> QuerySet[Sending]:
    return Sending.objects.filter(subaccount__in=subaccounts_for_user(user=user))


def sending_list(*, user: User, subaccount_id: int) -> QuerySet[Sending]:
    membership = membership_get(user=user, subaccount_id=subaccount_id)
    return Sending.objects.filter(subaccount=membership.subaccount).order_by("-scheduled_at", "-id")


def sending_get(*, user: User, identifier: str) -> Sending:
    """A sending the user may see, or 404."""
    try:
        return (
            sendings_for_user(user=user)
            .select_related("subaccount__account")
            .get(identifier=identifier)
        )
    except Sending.DoesNotExist:
        raise Http404("No such sending.") from None


def subaccount_overview_for_user(*, user: User) -> QuerySet[Subaccount]:
    """Each subaccount of the user with its number of sendings per status, in one query."""
    counts = {
        status: Count("sendings", filter=Q(sendings__status=status))
        for status in SendingStatus.values
    }
    return subaccounts_for_user(user=user).annotate(**counts).order_by("account__name", "name")
