"""Delivery through lost connections, in-process (the real outages: tests/test_faults.py)."""

import time
from collections import Counter
from datetime import timedelta

import pytest
from django.core import mail
from django.db import OperationalError
from django.utils import timezone

from batches import delivery, dispatch, halt
from batches import services as batch_services
from batches.halt import HaltWatch
from batches.models import Batch, DeliveryLease, Recipient
from tests.batches.backends import DownForAWhileBackend, StoppingBackend
from tests.factories import scheduled_sending

UNREACHABLE_REDIS = {
    alias: {  # the pages' cache and the stop signals' alike
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:9/0",  # the discard port: nothing listens there
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
    for alias in ("default", "signals")
}


def started(subaccount, contacts: int) -> Batch:
    sending = scheduled_sending(
        subaccount, contacts=contacts, first_at=timezone.now() - timedelta(seconds=1)
    )
    batch = sending.batches.get()
    assert batch_services.batch_start(batch_id=batch.pk, now=batch.scheduled_at)
    return batch


def delivered() -> Counter:
    return Counter(message.to[0] for message in mail.outbox)


@pytest.mark.django_db(transaction=True)
def test_results_are_kept_while_the_database_is_away_and_nobody_gets_it_twice(
    subaccount, settings, monkeypatch
):
    settings.DELIVERY_RECORD_EVERY = 5
    batch = started(subaccount, contacts=20)
    record = batch_services.recipients_record_results
    failures = {"left": 3}

    def flaky_record(**kwargs):
        if failures["left"]:
            failures["left"] -= 1
            raise OperationalError("server closed the connection unexpectedly")
        return record(**kwargs)

    monkeypatch.setattr(batch_services, "recipients_record_results", flaky_record)
    began = time.monotonic()

    report = delivery.batch_deliver(batch_id=batch.pk, budget_seconds=30)

    assert failures["left"] == 0, "the database never failed: nothing was tested"
    assert report.progress is delivery.Progress.FINISHED
    assert len(delivered()) == 20 and set(delivered().values()) == {1}
    batch.refresh_from_db()
    assert (batch.status, batch.sent_count) == ("sent", 20)
    # Three retries: 50 + 100 + 200 ms of backoff, not seconds.
    assert time.monotonic() - began < 5


@pytest.mark.django_db
def test_an_smtp_server_that_refuses_for_a_while_is_retried_in_the_same_task(subaccount, settings):
    settings.MAILERS = {"default": {"BACKEND": "tests.batches.backends.DownForAWhileBackend"}}
    DownForAWhileBackend.refusals = 2 * delivery.MAX_RECONNECTS  # two chunks' worth
    batch = started(subaccount, contacts=6)

    report = delivery.batch_deliver(batch_id=batch.pk, budget_seconds=30)

    assert DownForAWhileBackend.refusals == 0
    assert report.progress is delivery.Progress.FINISHED
    assert len(delivered()) == 6 and set(delivered().values()) == {1}
    assert not Recipient.objects.filter(batch=batch, attempts__gt=1).exists()


@pytest.mark.django_db
def test_a_dead_tasks_lease_ends_and_its_claims_come_back_without_the_claim_timeout(
    subaccount, settings, monkeypatch
):
    settings.CLAIM_TIMEOUT_SECONDS = 300
    settings.DELIVERY_LEASE_SECONDS = 20
    settings.DELIVERY_PARALLELISM = 4
    batch = started(subaccount, contacts=10)
    dead, alive = batch_services.leases_create(batch_id=batch.pk, count=2)
    held_by_dead = batch_services.recipients_claim(batch_id=batch.pk, limit=3, lease_id=dead)
    held_by_alive = batch_services.recipients_claim(batch_id=batch.pk, limit=3, lease_id=alive)
    DeliveryLease.objects.filter(pk=dead).update(renewed_at=timezone.now() - timedelta(seconds=21))
    enqueued = []
    monkeypatch.setattr(
        dispatch, "delivery_enqueue", lambda **kw: enqueued.append(kw) or kw["workers"]
    )

    report = dispatch.deliveries_recover()

    assert report.expired == 1
    assert list(DeliveryLease.objects.values_list("pk", flat=True)) == [alive]
    claimed = set(
        Recipient.objects.filter(batch=batch, claimed_at__isnull=False).values_list("pk", flat=True)
    )
    assert claimed == {c.id for c in held_by_alive}  # the live task keeps its claims
    assert not claimed & {c.id for c in held_by_dead}
    # One lease left of four: three tasks are queued to restore full parallelism.
    assert enqueued == [{"batch_id": batch.pk, "workers": 3}]


@pytest.mark.django_db
def test_a_task_whose_lease_was_ended_sends_nothing_and_its_record_says_so(subaccount):
    batch = started(subaccount, contacts=4)
    [lease] = batch_services.leases_create(batch_id=batch.pk, count=1)
    [claim] = batch_services.recipients_claim(batch_id=batch.pk, limit=1, lease_id=lease)
    DeliveryLease.objects.filter(pk=lease).delete()  # recovery thought it dead

    record = batch_services.recipients_record_results(
        batch_id=batch.pk, sent=[claim.id], lease_id=lease
    )
    report = delivery.batch_deliver(batch_id=batch.pk, budget_seconds=5, lease_id=lease)

    assert (record.sent, record.lease_held) == (1, False)  # what it sent still counts
    assert report.progress is delivery.Progress.LEASE_LOST
    assert mail.outbox == []


@pytest.mark.django_db
def test_the_halt_signal_is_best_effort_when_redis_is_unreachable(settings):
    settings.CACHES = UNREACHABLE_REDIS

    halt.halt_pending(42)
    halt.halt_announce(42)
    with HaltWatch(42) as watch:
        assert not watch.announced()  # the database tells instead, at the next record
        assert watch.resubscribe_at is not None


@pytest.mark.django_db
def test_a_stop_while_redis_is_down_reaches_the_worker_at_its_next_record(
    subaccount, support_user, settings
):
    settings.SMALL_SENDING_MAX_RECIPIENTS = 1
    settings.DELIVERY_RECORD_EVERY = 2
    settings.CACHES = UNREACHABLE_REDIS
    settings.MAILERS = {"default": {"BACKEND": "tests.batches.backends.StoppingBackend"}}
    StoppingBackend.stop_after, StoppingBackend.stopper = 3, support_user
    batch = started(subaccount, contacts=10)

    report = delivery.batch_deliver(batch_id=batch.pk, budget_seconds=5)

    batch.refresh_from_db()
    assert report.progress is delivery.Progress.HALTED
    assert batch.status == "canceled"
    # The stop committed during the 3rd message; the worker read it at its next record.
    assert 3 <= len(mail.outbox) <= 3 + settings.DELIVERY_RECORD_EVERY
    assert batch.sent_count == len(mail.outbox)
    assert batch.sent_count + batch.canceled_count == 10
