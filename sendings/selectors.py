"""A sending and its batches as a page shows them, for users who may see them (else 404)."""

from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404

from batches.models import CANCEL_REASON_UNSUBSCRIBED, Batch, Recipient, RecipientStatus
from sendings.models import Membership, Sending, SendingEvent
from sendings.tenancy.selectors import User, membership_get, subaccounts_for_user
from support.selectors import ticket_annotations


def sendings_for_user(*, user: User) -> QuerySet[Sending]:
    return Sending.objects.filter(subaccount__in=subaccounts_for_user(user=user))


def sending_get(*, user: User, identifier: str) -> Sending:
    """A sending the user may see, or 404."""
    try:
        return (
            sendings_for_user(user=user)
            .select_related("subaccount__account")
            .annotate(**ticket_annotations())  # the row and the detail page show the ticket
            .get(identifier=identifier)
        )
    except Sending.DoesNotExist:
        raise Http404("No such sending.") from None


def sending_with_role(*, user: User, identifier: str) -> tuple[Sending, Membership]:
    """A sending the user may see and the user's membership of its subaccount, or 404."""
    sending = sending_get(user=user, identifier=identifier)
    membership = membership_get(user=user, subaccount_id=sending.subaccount_id)
    return sending, membership


def sending_batches(*, sending: Sending) -> list[Batch]:
    """The batches, each with `unsubscribed`: its contacts left out because they unsubscribed
    (canceled recipients are few: found through the batch-and-status index)."""
    unsubscribed = (
        Recipient.objects.filter(
            batch=OuterRef("pk"),
            status=RecipientStatus.CANCELED,
            cancel_reason=CANCEL_REASON_UNSUBSCRIBED,
        )
        .order_by()
        .values("batch")
        .annotate(count=Count("id"))
        .values("count")
    )
    return list(
        Batch.objects.filter(sending=sending)
        .annotate(unsubscribed=Coalesce(Subquery(unsubscribed), 0))
        .order_by("number")
    )


def batch_get(*, sending: Sending, number: int) -> Batch:
    """Batch `number` of a sending the caller may already see, or 404."""
    batch = Batch.objects.filter(sending=sending, number=number).first()
    if batch is None:
        raise Http404("No such batch.")
    return batch


def sending_timeline(*, sending: Sending) -> QuerySet[SendingEvent]:
    return (
        SendingEvent.objects.filter(sending=sending)
        .select_related("batch")
        .order_by("created_at", "id")
    )


def sending_source(*, sending: Sending) -> Sending | None:
    """The sending a resend or a correction was made from (same subaccount by construction)."""
    if sending.source_sending_id is None:
        return None
    return Sending.objects.only("id", "identifier", "name", "status").get(
        pk=sending.source_sending_id
    )


def sending_followups(*, sending: Sending) -> list[Sending]:
    """The resends and corrections made from this sending, newest first."""
    return list(
        Sending.objects.filter(source_sending=sending)
        .only("id", "identifier", "name", "status", "source_audience", "total_recipients")
        .order_by("-id")
    )
