"""Reads of the "New sending" wizard: the lists a draft may target, its audience's size."""

from django.db.models import Count, QuerySet

from batches.models import Recipient
from sendings.models import Contact, ContactList, Sending


def wizard_lists(*, subaccount_id: int) -> QuerySet[ContactList]:
    """The lists a sending of this subaccount may target (and nothing else may be chosen)."""
    return ContactList.objects.filter(subaccount_id=subaccount_id).order_by("name", "id")


def _on_lists(*, subaccount_id: int, list_ids: list) -> QuerySet[Contact]:
    return Contact.objects.filter(
        subaccount_id=subaccount_id,
        unsubscribed=False,
        listmembership__contact_list_id__in=list_ids,
        listmembership__contact_list__subaccount_id=subaccount_id,
    )


def audience_count(*, subaccount_id: int, list_ids) -> int:
    """How many contacts a sending to these lists would reach: subscribed contacts of the
    subaccount on any of the lists that have not bounced, each once (COUNT(DISTINCT)), as
    `sending_confirm`'s snapshot takes them. Ids of another subaccount's lists count nobody."""
    list_ids = list(list_ids)
    if not list_ids:
        return 0
    return (
        _on_lists(subaccount_id=subaccount_id, list_ids=list_ids)
        .filter(bounced_at__isnull=True)
        .aggregate(n=Count("id", distinct=True))["n"]
    )  # fmt: skip


def audience_bounced_count(*, subaccount_id: int, list_ids) -> int:
    """Subscribed contacts on these lists whom the audience leaves out because they bounced."""
    list_ids = list(list_ids)
    if not list_ids:
        return 0
    return (
        _on_lists(subaccount_id=subaccount_id, list_ids=list_ids)
        .filter(bounced_at__isnull=False)
        .aggregate(n=Count("id", distinct=True))["n"]
    )  # fmt: skip


def fixed_audience_count(*, sending: Sending) -> int:
    """How many contacts a resend or a correction would reach now: its source's recipients
    in the statuses its audience takes, whose contact is still subscribed and has not
    bounced, as `sending_confirm`'s snapshot takes them."""
    return (
        Recipient.objects.filter(sending_id=sending.source_sending_id)
        .counted_as(*sending.source_recipient_statuses)
        .filter(
            contact__subaccount_id=sending.subaccount_id,
            contact__unsubscribed=False,
            contact__bounced_at__isnull=True,
        )
        .count()
    )


def draft_audience_count(*, sending: Sending) -> int:
    """The draft's audience now: its fixed set of recipients, else its lists'."""
    if sending.source_audience:
        return fixed_audience_count(sending=sending)
    return audience_count(
        subaccount_id=sending.subaccount_id,
        list_ids=sending.lists.filter(subaccount_id=sending.subaccount_id).values_list(
            "pk", flat=True
        ),
    )
