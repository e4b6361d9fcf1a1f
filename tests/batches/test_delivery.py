"""Delivery in-process, with Django's locmem backend (and misbehaving variants of it)."""

import threading
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from batches import delivery, dispatch, halt
from batches import services as batch_services
from batches.halt import HaltWatch
from batches.models import Batch, DeliveryLease, Recipient
from sendings.models import Contact
from tests.batches.backends import StoppingBackend
from tests.factories import scheduled_sending

pytestmark = pytest.mark.django_db


def started(sending, number: int = 1) -> Batch:
    batch = sending.batches.get(number=number)
    assert batch_services.batch_start(batch_id=batch.pk, now=batch.scheduled_at)
    return batch


def due_now(subaccount, **kwargs):
    return scheduled_sending(subaccount, first_at=timezone.now() - timedelta(seconds=1), **kwargs)


def use_backend(settings, path: str) -> None:
    settings.MAILERS = {"default": {"BACKEND": path}}


def test_contacts_who_unsubscribed_after_the_confirmation_are_left_out(subaccount):
    sending = due_now(subaccount, contacts=5)
    gone = Recipient.objects.filter(sending=sending).order_by("id")[:2]
    gone_emails = {r.email for r in gone}
    Contact.objects.filter(email__in=gone_emails).update(unsubscribed=True)

    batch = started(sending)
    delivery.batch_deliver(batch_id=batch.pk, budget_seconds=30)

    delivered = {m.to[0].split("<")[-1].rstrip(">") for m in mail.outbox}
    assert len(delivered) == 3 and not delivered & gone_emails
    batch.refresh_from_db()
    sending.refresh_from_db()
    assert (batch.status, batch.sent_count, batch.canceled_count) == ("sent", 3, 2)
    assert (sending.sent_count, sending.canceled_count) == (3, 2)
    assert set(
        Recipient.objects.filter(email__in=gone_emails).values_list("status", flat=True)
    ) == {"canceled"}
    started_event = sending.events.get(kind="batch_started")
    assert "2 who unsubscribed since the confirmation were left out" in started_event.message


def test_each_recipient_gets_one_personalized_message(subaccount):
    sending = due_now(subaccount, contacts=5)
    Contact.objects.filter(email__startswith=f"l{sending.lists.get().pk}-0@").update(
        name="Ana <Admin>"
    )
    Recipient.objects.filter(email__endswith="-0@example.org").update(name="Ana <Admin>")
    batch = started(sending)

    report = delivery.batch_deliver(batch_id=batch.pk, budget_seconds=30)

    assert report.progress is delivery.Progress.FINISHED
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        f'"{r.name}" <{r.email}>' if "<" in r.name else f"{r.name} <{r.email}>"
        for r in Recipient.objects.filter(sending=sending)
    )
    ana = next(m for m in mail.outbox if "Ana" in m.to[0])
    assert ana.body == "Hello Ana <Admin>"
    assert ana.alternatives[0].content == "<p>Hello Ana &lt;Admin&gt;</p>"
    one_click, mailto = ana.extra_headers["List-Unsubscribe"].split(", ")
    assert one_click.startswith("<http") and "/u/" in one_click and one_click.endswith("/>")
    assert mailto.startswith("<mailto:news@acme.example?subject=")
    assert sending.identifier in mailto
    assert ana.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert ana.from_email == "Acme <news@acme.example>"
    batch.refresh_from_db()
    sending.refresh_from_db()
    assert (batch.status, batch.sent_count) == ("sent", 5)
    assert (sending.status, sending.sent_count) == ("sent", 5)


def test_personalization_never_runs_template_code(subaccount):
    sending = due_now(subaccount, contacts=1)
    sending.text_body = "{% load static %}{{ settings.SECRET_KEY }} {{email}} {{ name|upper }}"
    sending.save(update_fields=["text_body"])
    batch = started(sending)

    delivery.batch_deliver(batch_id=batch.pk, budget_seconds=30)

    recipient = Recipient.objects.get(sending=sending)
    assert mail.outbox[0].body == (
        f"{{% load static %}}{{{{ settings.SECRET_KEY }}}} {recipient.email} {{{{ name|upper }}}}"
    )


def test_small_chunks_deliver_everyone_once(subaccount, settings):
    settings.DELIVERY_CHUNK_SIZE = 3
    settings.DELIVERY_RECORD_EVERY = 2
    sending = due_now(subaccount, contacts=11)
    batch = started(sending)

    delivery.batch_deliver(batch_id=batch.pk, budget_seconds=30)

    assert len(mail.outbox) == 11
    assert len({m.to[0] for m in mail.outbox}) == 11
    assert Batch.objects.get(pk=batch.pk).status == "sent"


def test_a_spent_time_slice_asks_to_be_requeued(subaccount, settings):
    settings.DELIVERY_CHUNK_SIZE = 2
    sending = due_now(subaccount, contacts=6)
    batch = started(sending)

    report = delivery.batch_deliver(batch_id=batch.pk, budget_seconds=0)

    assert report.progress is delivery.Progress.MORE
    assert len(mail.outbox) == 0
    assert delivery.batch_deliver(batch_id=batch.pk, budget_seconds=30).progress is (
        delivery.Progress.FINISHED
    )
    assert len(mail.outbox) == 6


def test_only_the_batch_whose_time_came_is_delivered(subaccount):
    sending = due_now(subaccount, contacts=6, sizes=[3, 3])
    first = started(sending)
    second = sending.batches.get(number=2)

    delivery.batch_deliver(batch_id=second.pk, budget_seconds=30)
    assert mail.outbox == []

    delivery.batch_deliver(batch_id=first.pk, budget_seconds=30)
    assert len(mail.outbox) == 3
    sending.refresh_from_db()
    assert (sending.status, sending.sent_count) == ("scheduled", 3)


@pytest.mark.django_db(transaction=True)
def test_a_stop_lets_no_further_message_through(subaccount, support_user, settings):
    settings.SMALL_SENDING_MAX_RECIPIENTS = 0
    settings.DELIVERY_RECORD_EVERY = 100
    use_backend(settings, "tests.batches.backends.StoppingBackend")
    StoppingBackend.stopper = support_user
    sending = due_now(subaccount, contacts=20)
    batch = started(sending)

    report = delivery.batch_deliver(batch_id=batch.pk, budget_seconds=30)

    assert report.progress is delivery.Progress.HALTED
    assert len(mail.outbox) == StoppingBackend.stop_after
    batch.refresh_from_db()
    assert batch.status == "canceled"
    assert (batch.sent_count, batch.canceled_count) == (3, 17)
    statuses = Recipient.objects.filter(batch=batch).with_status_shown()
    assert sorted(set(statuses.values_list("status_shown", flat=True))) == ["canceled", "sent"]


def test_temporarily_refused_recipients_are_retried_then_failed_with_the_error(
    subaccount, settings
):
    settings.EMAIL_MAX_ATTEMPTS = 3
    settings.EMAIL_RETRY_BACKOFF_SECONDS = 0
    use_backend(settings, "tests.batches.backends.RejectingBackend")
    sending = due_now(subaccount, contacts=4)
    Recipient.objects.filter(sending=sending, email__endswith="-1@example.org").update(
        email="busy@example.org"
    )
    batch = started(sending)

    report = delivery.batch_deliver(batch_id=batch.pk, budget_seconds=30)

    assert report.progress is delivery.Progress.FINISHED
    busy = Recipient.objects.get(sending=sending, email="busy@example.org")
    assert (busy.status, busy.attempts) == ("failed", 3)
    assert busy.last_error == "450 4.2.1 Mailbox busy"
    assert not Contact.objects.filter(bounced_at__isnull=False).exists()  # not a bounce
    assert len(mail.outbox) == 3
    batch.refresh_from_db()
    assert (batch.status, batch.sent_count, batch.failed_count) == ("sent", 3, 1)


def test_a_rejection_waits_for_its_backoff(subaccount, settings):
    settings.EMAIL_RETRY_BACKOFF_SECONDS = 60
    use_backend(settings, "tests.batches.backends.RejectingBackend")
    sending = due_now(subaccount, contacts=2)
    Recipient.objects.filter(sending=sending, email__endswith="-1@example.org").update(
        email="busy@example.org"
    )
    batch = started(sending)
    before = timezone.now()

    report = delivery.batch_deliver(batch_id=batch.pk, budget_seconds=30)

    assert report.progress is delivery.Progress.WAITING
    assert before + timedelta(seconds=59) < report.retry_at < before + timedelta(seconds=70)
    busy = Recipient.objects.get(sending=sending, email="busy@example.org")
    assert (busy.status, busy.attempts, busy.claimed_at) == ("pending", 1, None)
    assert Batch.objects.get(pk=batch.pk).status == "sending"


def test_rate_limit_spaces_messages_out(subaccount):
    subaccount.send_rate_limit = 20
    subaccount.save(update_fields=["send_rate_limit"])
    sending = due_now(subaccount, contacts=30)
    batch = started(sending)

    began = time.monotonic()
    delivery.batch_deliver(batch_id=batch.pk, budget_seconds=30)
    elapsed = time.monotonic() - began

    assert len(mail.outbox) == 30
    # 30 messages at 20 a second: at least 1.4 s (15 windows of 2), and not absurdly more.
    assert 1.3 <= elapsed < 6


def test_claims_skip_recipients_claimed_by_another_worker(subaccount):
    sending = due_now(subaccount, contacts=10)
    batch = started(sending)

    first = batch_services.recipients_claim(batch_id=batch.pk, limit=4)
    second = batch_services.recipients_claim(batch_id=batch.pk, limit=100)

    assert len(first) == 4 and len(second) == 6
    assert not {c.id for c in first} & {c.id for c in second}
    assert batch_services.recipients_claim(batch_id=batch.pk, limit=100) == []


def test_recovery_releases_stale_claims_and_requeues(subaccount, settings, monkeypatch):
    settings.CLAIM_TIMEOUT_SECONDS = 60
    sending = due_now(subaccount, contacts=5)
    batch = started(sending)
    claimed = batch_services.recipients_claim(batch_id=batch.pk, limit=3)
    Recipient.objects.filter(pk__in=[c.id for c in claimed]).update(
        claimed_at=timezone.now() - timedelta(seconds=61)
    )
    enqueued = []
    monkeypatch.setattr(
        dispatch, "delivery_enqueue", lambda **kw: enqueued.append(kw) or kw["workers"]
    )

    report = dispatch.deliveries_recover()

    assert (report.released, report.requeued) == (1, settings.DELIVERY_PARALLELISM)
    assert enqueued == [{"batch_id": batch.pk, "workers": settings.DELIVERY_PARALLELISM}]
    assert not Recipient.objects.filter(batch=batch, claimed_at__isnull=False).exists()
    delivery.batch_deliver(batch_id=batch.pk, budget_seconds=30)
    assert len(mail.outbox) == 5


def test_recovery_leaves_fresh_claims_alone_and_finishes_emptied_batches(subaccount, settings):
    sending = due_now(subaccount, contacts=4, sizes=[2, 2])
    first, second = started(sending, 1), started(sending, 2)
    batch_services.recipients_claim(batch_id=first.pk, limit=2)
    ids = list(Recipient.objects.filter(batch=second).values_list("pk", flat=True))
    batch_services.recipients_record_results(batch_id=second.pk, sent=ids)

    report = dispatch.deliveries_recover()

    assert (report.released, report.finished) == (0, 1)
    assert Batch.objects.get(pk=second.pk).status == "sent"
    assert Recipient.objects.filter(batch=first, claimed_at__isnull=False).count() == 2


def test_recovery_reads_every_batch_sending_in_the_same_few_queries(
    subaccount, settings, monkeypatch, django_assert_max_num_queries
):
    """Not three queries per batch: one sending batch or four, the same statements."""
    settings.CLAIM_TIMEOUT_SECONDS = 60
    monkeypatch.setattr(dispatch, "delivery_enqueue", lambda **kw: kw["workers"])
    sending = due_now(subaccount, contacts=8, sizes=[2, 2, 2, 2])
    first = started(sending, 1)
    stale = batch_services.recipients_claim(batch_id=first.pk, limit=1)
    Recipient.objects.filter(pk=stale[0].id).update(
        claimed_at=timezone.now() - timedelta(seconds=61)
    )
    with CaptureQueriesContext(connection) as one:
        report = dispatch.deliveries_recover()
    assert (report.released, report.requeued) == (1, settings.DELIVERY_PARALLELISM)
    for number in (2, 3, 4):
        batch = started(sending, number)
        claim = batch_services.recipients_claim(batch_id=batch.pk, limit=1)
        Recipient.objects.filter(pk=claim[0].id).update(
            claimed_at=timezone.now() - timedelta(seconds=61)
        )
    DeliveryLease.objects.all().delete()

    with django_assert_max_num_queries(len(one)):
        report = dispatch.deliveries_recover()

    assert (report.released, report.requeued) == (3, 4 * settings.DELIVERY_PARALLELISM)
    assert not Recipient.objects.filter(sending=sending, claimed_at__isnull=False).exists()


def test_the_halt_watch_sees_a_cancel_once_it_commits(
    subaccount, marketer, django_capture_on_commit_callbacks
):
    sending = scheduled_sending(subaccount, contacts=2)
    batch = sending.batches.get()
    with HaltWatch(batch.pk) as watch, HaltWatch(batch.pk + 1) as other:
        assert watch.pubsub is not None, "make test runs with the Redis cache"
        assert not watch.announced()

        with django_capture_on_commit_callbacks(execute=True):
            batch_services.batch_cancel(batch=batch, actor=marketer)
            assert not watch.announced()  # not before the commit

        # The message travels through Redis: give it a moment, without a fixed sleep.
        deadline = time.monotonic() + 2
        while not watch.announced() and time.monotonic() < deadline:
            time.sleep(0.001)
        assert watch.announced()
        assert not other.announced()

    with HaltWatch(batch.pk) as late:  # a worker that starts after the stop: the key
        assert late.announced()


def test_a_stop_being_written_pauses_workers_and_its_commit_halts_them(monkeypatch):
    monkeypatch.setattr(halt, "PAUSE_SECONDS", 0.3)
    with HaltWatch(7001) as watch:
        halt.halt_pending(7001)
        began = time.monotonic()
        threading.Timer(0.1, halt.halt_announce, args=[7001]).start()

        assert watch.announced()  # it waited through the pause and saw the halt
        assert 0.05 < time.monotonic() - began < 0.3


def test_a_pause_without_a_halt_lets_delivery_resume(monkeypatch):
    monkeypatch.setattr(halt, "PAUSE_SECONDS", 0.2)
    with HaltWatch(7002) as watch:
        halt.halt_pending(7002)  # a stop that then rolled back
        began = time.monotonic()

        assert not watch.announced()
        assert 0.2 <= time.monotonic() - began < 1
        assert not watch.announced()
