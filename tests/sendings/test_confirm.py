from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from batches.models import Batch, Recipient
from sendings import services
from sendings.exceptions import DomainError
from sendings.models import ListMembership, Sending, SendingEvent
from sendings.services import BatchPlan
from tests.factories import ContactFactory, SendingFactory, contact_list_with, scheduled_sending

pytestmark = pytest.mark.django_db


def tomorrow(hours: int = 0):
    return timezone.now() + timedelta(days=1, hours=hours)


def test_confirm_snapshots_the_audience_without_unsubscribed_or_duplicates(subaccount, marketer):
    newsletter = contact_list_with(subaccount, 5)
    vip = contact_list_with(subaccount, 3)
    # Two newsletter contacts are VIPs too; one VIP has unsubscribed.
    for contact in newsletter.contacts.all()[:2]:
        ListMembership.objects.create(contact_list=vip, contact=contact)
    gone = vip.contacts.order_by("id").last()
    gone.unsubscribed = True
    gone.save()
    sending = SendingFactory(subaccount=subaccount)
    sending.lists.add(newsletter, vip)

    services.sending_confirm(sending=sending, batches=[BatchPlan(tomorrow())], actor=marketer)

    sending.refresh_from_db()
    assert sending.status == Sending.Status.SCHEDULED
    assert sending.total_recipients == 7
    emails = list(Recipient.objects.filter(sending=sending).values_list("email", flat=True))
    assert len(emails) == len(set(emails)) == 7
    assert gone.email not in emails
    assert set(Recipient.objects.values_list("status", flat=True)) == {"pending"}
    event = SendingEvent.objects.get(sending=sending)
    assert (event.kind, event.actor, event.total_recipients) == ("confirmed", marketer, 7)


def test_confirm_splits_the_audience_into_the_planned_batches(subaccount, marketer):
    sending = SendingFactory(subaccount=subaccount)
    sending.lists.add(contact_list_with(subaccount, 10))
    plans = [BatchPlan(tomorrow(0), 3), BatchPlan(tomorrow(1), 3), BatchPlan(tomorrow(2))]

    services.sending_confirm(sending=sending, batches=plans, actor=marketer)

    batches = list(sending.batches.order_by("number"))
    assert [b.recipient_count for b in batches] == [3, 3, 4]
    assert [b.recipients.count() for b in batches] == [3, 3, 4]
    assert [b.scheduled_at for b in batches] == [p.scheduled_at for p in plans]
    sending.refresh_from_db()
    assert (sending.batch_count, sending.scheduled_at) == (3, plans[0].scheduled_at)


def test_confirm_works_across_several_snapshot_chunks(subaccount, marketer, monkeypatch):
    monkeypatch.setattr(services, "SNAPSHOT_CHUNK", 4)
    sending = SendingFactory(subaccount=subaccount)
    sending.lists.add(contact_list_with(subaccount, 11))

    services.sending_confirm(
        sending=sending,
        batches=[BatchPlan(tomorrow(0), 5), BatchPlan(tomorrow(1), 6)],
        actor=marketer,
    )

    assert [b.recipients.count() for b in sending.batches.order_by("number")] == [5, 6]
    assert Recipient.objects.filter(sending=sending).count() == 11


@pytest.mark.parametrize(
    ("sizes", "code"),
    [
        ([4, 4], "counts_mismatch"),  # adds up to 8, audience is 10
        ([6, 6], "counts_mismatch"),
        ([10, None], "counts_mismatch"),  # nothing left for the last batch
        ([0, None], "count_low"),
        ([None, 5], "count_missing"),
    ],
)
def test_confirm_refuses_batch_sizes_that_do_not_add_up(subaccount, marketer, sizes, code):
    sending = SendingFactory(subaccount=subaccount)
    sending.lists.add(contact_list_with(subaccount, 10))
    plans = [BatchPlan(tomorrow(i), size) for i, size in enumerate(sizes)]

    with pytest.raises(DomainError) as refused:
        services.sending_confirm(sending=sending, batches=plans, actor=marketer)

    assert refused.value.code == code
    sending.refresh_from_db()
    assert sending.status == Sending.Status.DRAFT
    assert not Batch.objects.filter(sending=sending).exists()
    assert not Recipient.objects.filter(sending=sending).exists()


def test_confirm_refuses_batches_out_of_order(subaccount, marketer):
    sending = SendingFactory(subaccount=subaccount)
    sending.lists.add(contact_list_with(subaccount, 4))
    plans = [BatchPlan(tomorrow(2), 2), BatchPlan(tomorrow(1))]

    with pytest.raises(DomainError, match="after batch 1"):
        services.sending_confirm(sending=sending, batches=plans, actor=marketer)


def test_confirm_refuses_more_batches_than_recipients(subaccount, marketer):
    sending = SendingFactory(subaccount=subaccount)
    sending.lists.add(contact_list_with(subaccount, 2))
    plans = [BatchPlan(tomorrow(0), 1), BatchPlan(tomorrow(1), 1), BatchPlan(tomorrow(2))]

    with pytest.raises(DomainError) as refused:
        services.sending_confirm(sending=sending, batches=plans, actor=marketer)
    assert refused.value.code == "too_many"


def test_confirm_refuses_an_empty_audience(subaccount, marketer):
    contact_list = contact_list_with(subaccount, 2)
    contact_list.contacts.update(unsubscribed=True)
    sending = SendingFactory(subaccount=subaccount)
    sending.lists.add(contact_list)

    with pytest.raises(DomainError, match="Nobody to send to"):
        services.sending_confirm(sending=sending, batches=[BatchPlan(tomorrow())], actor=marketer)
    sending.refresh_from_db()
    assert sending.status == Sending.Status.DRAFT


def test_confirm_refuses_no_lists_and_incomplete_content(subaccount, marketer):
    sending = SendingFactory(subaccount=subaccount)
    with pytest.raises(DomainError, match="at least one contact list"):
        services.sending_confirm(sending=sending, batches=[BatchPlan(tomorrow())], actor=marketer)

    sending.lists.add(contact_list_with(subaccount, 2))
    sending.subject = ""
    sending.save()
    with pytest.raises(DomainError, match="needs a subject"):
        services.sending_confirm(sending=sending, batches=[BatchPlan(tomorrow())], actor=marketer)


def test_confirm_refuses_a_list_of_another_subaccount(subaccount, other_subaccount, marketer):
    sending = SendingFactory(subaccount=subaccount)
    sending.lists.add(contact_list_with(other_subaccount, 3, name="Their list"))

    with pytest.raises(DomainError, match="another subaccount: Their list"):
        services.sending_confirm(sending=sending, batches=[BatchPlan(tomorrow())], actor=marketer)
    assert not Recipient.objects.exists()


def test_confirm_only_reads_contacts_of_the_sendings_subaccount(subaccount, other_subaccount):
    mine = contact_list_with(subaccount, 2)
    # A contact of another subaccount slipped into the list must not be sent to.
    stranger = ContactFactory(subaccount=other_subaccount)
    ListMembership.objects.create(contact_list=mine, contact=stranger)
    sending = SendingFactory(subaccount=subaccount)
    sending.lists.add(mine)

    services.sending_confirm(sending=sending, batches=[BatchPlan(tomorrow())], actor=None)

    assert sorted(Recipient.objects.values_list("contact_id", flat=True)) == sorted(
        mine.contacts.exclude(pk=stranger.pk).values_list("id", flat=True)
    )


def test_confirm_twice_is_a_no_op(subaccount, marketer):
    sending = SendingFactory(subaccount=subaccount)
    sending.lists.add(contact_list_with(subaccount, 3))
    plans = [BatchPlan(tomorrow())]
    services.sending_confirm(sending=sending, batches=plans, actor=marketer)

    services.sending_confirm(sending=sending, batches=plans, actor=marketer)

    assert Batch.objects.filter(sending=sending).count() == 1
    assert Recipient.objects.filter(sending=sending).count() == 3
    assert SendingEvent.objects.filter(sending=sending).count() == 1


def test_confirm_refuses_naive_times(subaccount, marketer):
    sending = SendingFactory(subaccount=subaccount)
    sending.lists.add(contact_list_with(subaccount, 3))
    naive = tomorrow().replace(tzinfo=None)
    with pytest.raises(DomainError, match="time zone"):
        services.sending_confirm(sending=sending, batches=[BatchPlan(naive)], actor=marketer)


def test_without_database_foreign_keys_deletes_still_reach_the_recipients(subaccount):
    """The recipient table has no database-level keys (the snapshot's COMMIT no longer checks
    one per row); Django still applies on_delete for its sending, batches and contacts."""
    sending = scheduled_sending(subaccount, contacts=3)
    with connection.cursor() as cursor:
        keys = connection.introspection.get_constraints(cursor, Recipient._meta.db_table)
    assert not [name for name, key in keys.items() if key["foreign_key"]]
    gone = Recipient.objects.filter(sending=sending).order_by("email").first()

    gone_contact = gone.contact
    gone_contact.delete()

    gone.refresh_from_db()
    assert gone.contact_id is None  # SET_NULL, done by Django
    Sending.objects.filter(pk=sending.pk).delete()
    assert not Recipient.objects.filter(sending_id=sending.pk).exists()
    assert not Batch.objects.filter(sending_id=sending.pk).exists()
