"""The deferred cancel: a stop commits at once, its pending rows catch up after it, in chunks.

Counts are checked after every service call (tests/invariants.py), where a pending row of a
canceled batch counts as canceled; these tests check the rows themselves catch up, whatever
happens meanwhile.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from batches import services as batch_services
from batches.models import Batch, Recipient
from sendings import services
from tests.factories import scheduled_sending
from tests.sendings.test_race import run_together

pytestmark = pytest.mark.django_db


def stopped(subaccount, support_user, settings, *, contacts=10, sent=2, in_flight=0):
    """A batch that started, `sent` delivered, `in_flight` claimed by a worker, then stopped."""
    settings.SMALL_SENDING_MAX_RECIPIENTS = 0
    sending = scheduled_sending(
        subaccount, contacts=contacts, first_at=timezone.now() - timedelta(minutes=1)
    )
    batch = sending.batches.get()
    assert batch_services.batch_start(batch_id=batch.pk)
    ids = list(batch.recipients.order_by("id").values_list("id", flat=True))
    batch_services.recipients_record_results(batch_id=batch.pk, sent=ids[:sent])
    claims = (
        batch_services.recipients_claim(batch_id=batch.pk, limit=in_flight) if in_flight else []
    )
    services.sending_stop(sending=sending, actor=support_user)
    batch.refresh_from_db()
    return batch, [claim.id for claim in claims]


def row_statuses(batch: Batch) -> dict[str, int]:
    statuses = batch.recipients.values_list("status", flat=True)
    return {status: list(statuses).count(status) for status in set(statuses)}


def test_the_stop_commits_the_counts_and_the_rows_catch_up_in_chunks_once(
    subaccount, support_user, settings
):
    settings.CANCEL_CHUNK_SIZE = 3
    batch, _ = stopped(subaccount, support_user, settings)

    assert (batch.status, batch.canceled_count, batch.rows_catching_up) == ("canceled", 8, True)
    assert row_statuses(batch) == {"sent": 2, "pending": 8}  # the stop wrote no recipient row
    assert batch_services.recipients_cancel_catch_up(batch_id=batch.pk) == 8
    assert batch_services.recipients_cancel_catch_up(batch_id=batch.pk) == 0
    batch.refresh_from_db()
    assert row_statuses(batch) == {"sent": 2, "canceled": 8}
    assert (batch.canceled_count, batch.rows_catching_up) == (8, False)


def test_a_catch_up_that_dies_half_way_is_finished_by_the_sweep(
    subaccount, support_user, settings, monkeypatch
):
    settings.CANCEL_CHUNK_SIZE = 3
    batch, _ = stopped(subaccount, support_user, settings)
    update = QuerySet.update
    calls = []

    def dies_after_the_first_chunk(queryset, **values):
        calls.append(values)
        if len(calls) == 2:
            raise ConnectionError("worker killed")
        return update(queryset, **values)

    with monkeypatch.context() as patched:
        patched.setattr(QuerySet, "update", dies_after_the_first_chunk)
        with pytest.raises(ConnectionError):
            batch_services.recipients_cancel_catch_up(batch_id=batch.pk)

    assert row_statuses(batch) == {"sent": 2, "canceled": 3, "pending": 5}
    # A batch canceled just now is left to its own task; an older one the sweep takes.
    assert batch_services.recipients_cancel_catch_up_all(older_than_seconds=60) == 0
    assert batch_services.recipients_cancel_catch_up_all() == 5
    batch.refresh_from_db()
    assert (row_statuses(batch), batch.rows_catching_up) == ({"sent": 2, "canceled": 8}, False)


def test_the_sweep_queues_a_catch_up_only_for_batches_nobody_is_catching_up(
    subaccount, support_user, settings, monkeypatch
):
    batch, _ = stopped(subaccount, support_user, settings)
    queued = []
    monkeypatch.setattr(
        batch_services, "catch_up_enqueue", lambda *, batch_id, after_id=0: queued.append(batch_id)
    )
    now = timezone.now()
    assert batch_services.cancel_catch_up_sweep(now=now) == []  # its own task is on it
    later = now + timedelta(seconds=settings.RECOVERY_INTERVAL_SECONDS + 1)
    assert batch_services.cancel_catch_up_sweep(now=later) == [batch.pk]  # that task was lost
    Batch.objects.filter(pk=batch.pk).update(catch_up_renewed_at=later)
    assert batch_services.cancel_catch_up_sweep(now=later) == []  # a live catch-up renews it
    assert queued == [batch.pk]


def test_a_slice_stops_at_its_budget_and_the_next_goes_on_from_there(
    subaccount, support_user, settings
):
    settings.CANCEL_CHUNK_SIZE = 3
    batch, _ = stopped(subaccount, support_user, settings)

    after_id = batch_services.recipients_cancel_catch_up_slice(batch_id=batch.pk, budget_seconds=0)
    assert (after_id, row_statuses(batch)) == (0, {"sent": 2, "pending": 8})
    after_id = batch_services.recipients_cancel_catch_up_slice(batch_id=batch.pk, after_id=after_id)
    assert after_id is None
    batch.refresh_from_db()
    assert (row_statuses(batch), batch.rows_catching_up) == ({"sent": 2, "canceled": 8}, False)


@pytest.mark.parametrize("catch_up_first", [True, False], ids=["caught-up-first", "record-first"])
def test_messages_in_flight_at_the_stop_are_recorded_as_what_happened(
    subaccount, support_user, settings, catch_up_first
):
    batch, (accepted, refused, bounced) = stopped(subaccount, support_user, settings, in_flight=3)
    assert batch_services.inflight_count(sending_id=batch.sending_id) == 3
    if catch_up_first:
        batch_services.recipients_cancel_catch_up(batch_id=batch.pk)

    batch_services.recipients_record_results(
        batch_id=batch.pk,
        sent=[accepted],
        rejected={refused: "451 4.3.0 Try again later"},  # would be retried: it is canceled
        failed={bounced: "550 5.1.1 No such user"},  # handed over and refused for good
    )
    batch_services.recipients_cancel_catch_up(batch_id=batch.pk)

    statuses = dict(batch.recipients.values_list("id", "status"))
    assert (statuses[accepted], statuses[refused], statuses[bounced]) == (
        "sent",
        "canceled",
        "failed",
    )
    batch.refresh_from_db()
    assert (batch.sent_count, batch.failed_count, batch.canceled_count) == (3, 1, 6)
    assert batch_services.inflight_count(sending_id=batch.sending_id) == 0


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_catch_up_and_a_worker_recording_at_the_same_time_agree(
    subaccount, support_user, settings
):
    assert connection.vendor == "postgresql", "row-lock races are only meaningful on PostgreSQL"
    settings.CANCEL_CHUNK_SIZE = 2
    for _ in range(10):
        batch, claimed = stopped(
            subaccount, support_user, settings, contacts=8, sent=0, in_flight=4
        )

        run_together(
            lambda b=batch: batch_services.recipients_cancel_catch_up(batch_id=b.pk),
            lambda b=batch, c=claimed: batch_services.recipients_record_results(
                batch_id=b.pk, sent=c[:3], rejected={c[3]: "451 4.3.0 Later"}
            ),
        )

        batch.refresh_from_db()
        assert row_statuses(batch) == {"sent": 3, "canceled": 5}
        assert (batch.sent_count, batch.canceled_count, batch.rows_catching_up) == (3, 5, False)
        assert not Recipient.objects.filter(batch=batch, claimed_at__isnull=False).exists()
