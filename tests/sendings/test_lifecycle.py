"""Every transition of sendings and batches, allowed and refused (docs/decisions.md, status
rules)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from batches import services as batch_services
from batches.models import Batch, Recipient
from sendings import services
from sendings.exceptions import DomainError
from sendings.models import Sending, SendingEvent
from tests.factories import SendingFactory, scheduled_sending

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _small_sendings_under_three(settings):
    """These sendings are tiny; only the small-sending test below uses a larger threshold."""
    settings.SMALL_SENDING_MAX_RECIPIENTS = 2


LATER = timedelta(days=3)


def start(batch: Batch) -> bool:
    return batch_services.batch_start(batch_id=batch.pk, now=batch.scheduled_at + LATER)


def deliver(batch: Batch, *, fail: int = 0) -> None:
    """Record every pending recipient of the batch as accepted (the first `fail` rejected)."""
    ids = list(
        batch.recipients.filter(status="pending").order_by("id").values_list("id", flat=True)
    )
    batch_services.recipients_record_results(
        batch_id=batch.pk,
        sent=ids[fail:],
        failed={pk: "550 mailbox unavailable" for pk in ids[:fail]},
    )


def send_fully(batch: Batch) -> None:
    start(batch)
    deliver(batch)
    assert batch_services.batch_finish(batch_id=batch.pk)


def status_of(sending: Sending) -> str:
    sending.refresh_from_db()
    return sending.status


def batch_statuses(sending: Sending) -> list[str]:
    return list(sending.batches.order_by("number").values_list("status", flat=True))


# --- A scheduled sending is canceled, nobody receives it ------------------------


def test_cancel_of_scheduled_sending_cancels_every_batch(subaccount, marketer):
    sending = scheduled_sending(subaccount, contacts=6, sizes=[2, 2, None])

    services.sending_cancel(sending=sending, actor=marketer)

    assert status_of(sending) == "canceled"
    assert batch_statuses(sending) == ["canceled"] * 3
    # Counted as canceled at once; the rows catch up after the commit.
    shown = Recipient.objects.with_status_shown().values_list("status_shown", flat=True)
    assert set(shown) == {"canceled"}
    assert sending.canceled_count == 6
    batch_services.recipients_cancel_catch_up_all()
    assert set(Recipient.objects.values_list("status", flat=True)) == {"canceled"}
    batch = sending.batches.first()
    assert (batch.canceled_by, batch.canceled_at is not None) == (marketer, True)
    event = sending.events.last()
    assert (event.kind, event.actor_label, event.canceled_count) == ("canceled", "marketer", 6)


def test_cancel_twice_is_a_no_op(subaccount, marketer):
    sending = scheduled_sending(subaccount, contacts=3)
    services.sending_cancel(sending=sending, actor=marketer)

    services.sending_cancel(sending=sending, actor=marketer)

    assert status_of(sending) == "canceled"
    assert sending.events.filter(kind="canceled").count() == 1


def test_cancel_of_sending_in_progress_is_refused(subaccount, marketer):
    sending = scheduled_sending(subaccount, contacts=3)
    start(sending.batches.get())

    with pytest.raises(DomainError) as refused:
        services.sending_cancel(sending=sending, actor=marketer)

    assert refused.value.code == "in_progress"
    assert "urgent cancellation" in refused.value.message
    assert status_of(sending) == "sending"


def test_cancel_of_sent_sending_is_refused(subaccount, marketer):
    sending = scheduled_sending(subaccount, contacts=3)
    send_fully(sending.batches.get())

    with pytest.raises(DomainError, match="already been sent") as refused:
        services.sending_cancel(sending=sending, actor=marketer)

    assert refused.value.code == "already_sent"
    assert status_of(sending) == "sent"


def test_cancel_of_draft_is_refused(subaccount, marketer):
    draft = SendingFactory(subaccount=subaccount)
    with pytest.raises(DomainError, match="draft") as refused:
        services.sending_cancel(sending=draft, actor=marketer)
    assert refused.value.code == "draft"


def test_cancel_between_batches_keeps_what_was_sent(subaccount, marketer):
    sending = scheduled_sending(subaccount, contacts=6, sizes=[2, 2, None])
    send_fully(sending.batches.get(number=1))
    assert status_of(sending) == "scheduled"

    services.sending_cancel(sending=sending, actor=marketer)

    assert batch_statuses(sending) == ["sent", "canceled", "canceled"]
    assert status_of(sending) == "canceled"
    assert (sending.sent_count, sending.canceled_count) == (2, 4)


# --- In batches: one batch at a time ------------------------------------------------------


def test_cancel_of_one_scheduled_batch(subaccount, marketer):
    sending = scheduled_sending(subaccount, contacts=6, sizes=[2, 2, None])
    send_fully(sending.batches.get(number=1))

    batch_services.batch_cancel(batch=sending.batches.get(number=2), actor=marketer)

    assert batch_statuses(sending) == ["sent", "canceled", "scheduled"]
    assert status_of(sending) == "scheduled"
    assert sending.batches.get(number=2).recipients.counted_as("canceled").count() == 2
    assert sending.events.last().kind == "batch_canceled"


def test_cancel_of_the_last_scheduled_batch_finishes_the_sending(subaccount, marketer):
    sending = scheduled_sending(subaccount, contacts=4, sizes=[2, None])
    send_fully(sending.batches.get(number=1))

    batch_services.batch_cancel(batch=sending.batches.get(number=2), actor=marketer)

    assert status_of(sending) == "canceled"
    assert sending.finished_at is not None


def test_cancel_of_sent_or_sending_batch_is_refused(subaccount, marketer):
    sending = scheduled_sending(subaccount, contacts=4, sizes=[2, None])
    first, second = sending.batches.order_by("number")
    send_fully(first)
    start(second)

    with pytest.raises(DomainError) as sent_refusal:
        batch_services.batch_cancel(batch=first, actor=marketer)
    with pytest.raises(DomainError) as sending_refusal:
        batch_services.batch_cancel(batch=second, actor=marketer)

    assert (sent_refusal.value.code, sending_refusal.value.code) == ("already_sent", "in_progress")
    assert batch_statuses(sending) == ["sent", "sending"]


def test_batch_cancel_twice_is_a_no_op(subaccount, marketer):
    sending = scheduled_sending(subaccount, contacts=4, sizes=[2, None])
    batch = sending.batches.get(number=2)
    batch_services.batch_cancel(batch=batch, actor=marketer)

    batch_services.batch_cancel(batch=batch, actor=marketer)

    assert sending.events.filter(kind="batch_canceled").count() == 1


# --- The dispatcher's transitions ---------------------------------------------------------


def test_batch_start_happens_once(subaccount):
    sending = scheduled_sending(subaccount, contacts=3)
    batch = sending.batches.get()

    assert start(batch) is True
    assert start(batch) is False

    assert status_of(sending) == "sending"
    assert sending.events.filter(kind="batch_started").count() == 1
    batch.refresh_from_db()
    assert batch.started_at is not None


def test_batch_start_waits_for_its_time(subaccount):
    sending = scheduled_sending(subaccount, contacts=3)
    batch = sending.batches.get()

    started = batch_services.batch_start(
        batch_id=batch.pk, now=batch.scheduled_at - timedelta(seconds=1)
    )

    assert started is False
    assert status_of(sending) == "scheduled"


def test_batch_start_of_canceled_or_missing_batch_does_nothing(subaccount, marketer):
    sending = scheduled_sending(subaccount, contacts=3)
    batch = sending.batches.get()
    services.sending_cancel(sending=sending, actor=marketer)

    assert start(batch) is False
    assert batch_services.batch_start(batch_id=10**9) is False
    assert status_of(sending) == "canceled"


def test_batch_finish_needs_nobody_pending(subaccount):
    sending = scheduled_sending(subaccount, contacts=3)
    batch = sending.batches.get()
    start(batch)

    with pytest.raises(DomainError, match="3 contacts waiting"):
        batch_services.batch_finish(batch_id=batch.pk)
    deliver(batch, fail=1)

    assert batch_services.batch_finish(batch_id=batch.pk) is True
    assert batch_services.batch_finish(batch_id=batch.pk) is False
    assert status_of(sending) == "sent"
    assert (sending.sent_count, sending.failed_count) == (2, 1)
    assert Recipient.objects.get(status="failed").last_error == "550 mailbox unavailable"


def test_batches_go_scheduled_sending_sent_in_turn(subaccount):
    sending = scheduled_sending(subaccount, contacts=3, sizes=[1, 1, None])
    first, second, third = sending.batches.order_by("number")

    start(first)
    assert status_of(sending) == "sending"
    deliver(first)
    batch_services.batch_finish(batch_id=first.pk)
    assert status_of(sending) == "scheduled"
    send_fully(second)
    assert status_of(sending) == "scheduled"
    send_fully(third)
    assert status_of(sending) == "sent"
    assert sending.sent_count == 3


def test_recording_twice_counts_once(subaccount):
    sending = scheduled_sending(subaccount, contacts=3)
    batch = sending.batches.get()
    start(batch)
    ids = list(batch.recipients.values_list("id", flat=True))

    first = batch_services.recipients_record_results(batch_id=batch.pk, sent=ids[:2])
    again = batch_services.recipients_record_results(batch_id=batch.pk, sent=ids[:2])

    assert (first.sent, again.sent) == (2, 0)
    sending.refresh_from_db()
    assert sending.sent_count == 2


# --- In progress: support stops a sending in progress ---------------------------------------


def test_stop_cancels_the_running_batch_and_every_later_one(subaccount, support_user):
    sending = scheduled_sending(subaccount, contacts=9, sizes=[3, 3, None])
    first, second, _third = sending.batches.order_by("number")
    send_fully(first)
    start(second)
    ids = list(second.recipients.order_by("id").values_list("id", flat=True))
    batch_services.recipients_record_results(batch_id=second.pk, sent=ids[:1])

    services.sending_stop(sending=sending, actor=support_user, note="Ticket 1.")

    assert batch_statuses(sending) == ["sent", "canceled", "canceled"]
    assert status_of(sending) == "canceled"
    assert (sending.sent_count, sending.canceled_count) == (4, 5)
    event = sending.events.last()
    assert (event.kind, event.sent_count, event.actor_label) == ("stopped", 4, "support")
    assert "Ticket 1." in event.message


def test_stop_of_sent_sending_is_refused_and_of_canceled_is_a_no_op(subaccount, support_user):
    sent = scheduled_sending(subaccount, contacts=2)
    send_fully(sent.batches.get())
    canceled = scheduled_sending(subaccount, contacts=2)
    services.sending_cancel(sending=canceled, actor=None)

    with pytest.raises(DomainError, match="already been sent"):
        services.sending_stop(sending=sent, actor=support_user)
    services.sending_stop(sending=canceled, actor=support_user)

    assert (status_of(sent), status_of(canceled)) == ("sent", "canceled")
    assert not SendingEvent.objects.filter(kind="stopped").exists()


def test_stop_of_small_sending_is_refused(subaccount, support_user, settings):
    settings.SMALL_SENDING_MAX_RECIPIENTS = 1000
    sending = scheduled_sending(subaccount, contacts=999)
    start(sending.batches.get())

    with pytest.raises(DomainError, match="under 1000 contacts cannot be stopped") as refused:
        services.sending_stop(sending=sending, actor=support_user)

    assert refused.value.code == "small"
    assert status_of(sending) == "sending"


def test_message_in_flight_at_the_stop_is_counted_as_sent(subaccount, support_user):
    """A worker handed a message to SMTP just before the stop: the Sent column must say so."""
    sending = scheduled_sending(subaccount, contacts=3)
    batch = sending.batches.get()
    start(batch)
    in_flight = batch.recipients.order_by("id").first()
    services.sending_stop(sending=sending, actor=support_user)

    recorded = batch_services.recipients_record_results(batch_id=batch.pk, sent=[in_flight.pk])

    assert recorded.sent == 1
    in_flight.refresh_from_db()
    assert in_flight.status == "sent"
    sending.refresh_from_db()
    assert (sending.status, sending.sent_count, sending.canceled_count) == ("canceled", 1, 2)


def test_past_batch_time_is_due_at_once(subaccount):
    sending = scheduled_sending(subaccount, contacts=2, first_at=timezone.now() - LATER)

    assert batch_services.batch_start(batch_id=sending.batches.get().pk) is True


# --- The stop signal reaches workers only once the cancel has committed ---------------------


def test_cancel_announces_the_halt_after_commit(
    subaccount, marketer, django_capture_on_commit_callbacks
):
    from batches.halt import halt_announced

    sending = scheduled_sending(subaccount, contacts=2, sizes=[1, None])
    first, second = sending.batches.order_by("number")

    with django_capture_on_commit_callbacks() as callbacks:
        batch_services.batch_cancel(batch=second, actor=marketer)
        assert not halt_announced(second.pk)
    for callback in callbacks:
        callback()

    assert halt_announced(second.pk)
    assert not halt_announced(first.pk)


def test_refused_stop_announces_nothing(
    subaccount, support_user, django_capture_on_commit_callbacks
):
    from batches.halt import halt_announced

    sending = scheduled_sending(subaccount, contacts=2)
    batch = sending.batches.get()
    send_fully(batch)

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(DomainError):
        services.sending_stop(sending=sending, actor=support_user)

    assert not halt_announced(batch.pk)
