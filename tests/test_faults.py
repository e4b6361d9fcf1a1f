"""Faults mid-sending: real worker processes, beat, PostgreSQL, Redis and an SMTP sink.

The production topology in miniature: two delivery processes, a dispatch worker with beat,
default settings. For each fault, while a sending is going out: nobody is lost, the Sent
column equals what the sink accepted, the counts add up, duplicates stay within the bound,
and delivery comes back, at full parallelism, in time. Each test prints its figures
(`pytest -s tests/test_faults.py` inside scripts/with-test-services).
"""

import itertools
import json
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from batches import services as batch_services
from batches.models import Recipient
from sendings.models import Sending
from support import services as support_services
from support.models import Ticket
from tests.factories import scheduled_sending
from tests.invariants import assert_counts_add_up
from tests.services import Postgres, Redis
from tests.workers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CONTACTS = 5000
DELIVERY_PROCESSES = 2
FAULT_AT = 1500
OUTAGE_SECONDS = 5
# Done when: delivery is back, at full parallelism, this soon after the service.
RESUME_WITHIN_SECONDS = 10
SUPPORT = "soporte@example.com"
# The worker fixture ticks faster than production; these tests run with the defaults.
DEFAULTS = {"DISPATCH_TICK_SECONDS": 1, "SUPPORT_EMAIL": SUPPORT}


def start_topology(workers, **overrides) -> list:
    """A dispatch worker with beat, then the delivery processes; returns the delivery ones."""
    workers.start(1, beat=True, queues="dispatch", **DEFAULTS, **overrides)
    return workers.start(DELIVERY_PROCESSES, beat=False, queues="delivery", **DEFAULTS, **overrides)


def contact_messages(sink) -> list:
    return [item for item in sink.snapshot() if item.rcpt.endswith("@example.org")]


def sending_under_way(subaccount, sink, *, contacts: int = CONTACTS) -> Sending:
    sending = scheduled_sending(
        subaccount, contacts=contacts, first_at=timezone.now() + timedelta(seconds=1)
    )
    wait_for(lambda: len(contact_messages(sink)) >= FAULT_AT, timeout=90, what="the fault point")
    return sending


def wait_until_sent(sending: Sending, *, timeout: float) -> None:
    wait_for(
        lambda: Sending.objects.get(pk=sending.pk).status == "sent",
        timeout=timeout,
        every=0.2,
        what="the sending to finish",
    )


def resumed(sink, back: float) -> tuple[float, float]:
    """Seconds from `back` to the first message, and to DELIVERY_PROCESSES SMTP sessions
    delivering at once (one session at a time per process, so overlap means parallelism)."""
    after = [item for item in contact_messages(sink) if item.at >= back]
    assert after, "nothing was delivered after the service came back"
    spans: dict[int, list[float]] = {}
    for item in after:
        span = spans.setdefault(item.session, [item.at, item.at])
        span[1] = item.at
    full = min(
        (
            start
            for start, _ in spans.values()
            if sum(1 for s, e in spans.values() if s <= start <= e) >= DELIVERY_PROCESSES
        ),
        default=None,
    )
    assert full is not None, "delivery never ran on every delivery process again"
    return after[0].at - back, full - back


def longest_gap(sink, *, since: float) -> float:
    """The longest time without a delivered message, from `since` to the last message."""
    moments = [since, *sorted(item.at for item in contact_messages(sink) if item.at >= since)]
    return max((b - a for a, b in itertools.pairwise(moments)), default=0.0)


def outcome_checks(
    sending: Sending, sink, *, max_duplicates: int, contacts: int = CONTACTS
) -> tuple[int, int]:
    """Nobody lost, Sent = what the sink accepted, counts add up. Returns (duplicates, lost)."""
    received = Counter(item.rcpt for item in contact_messages(sink))
    emails = set(Recipient.objects.filter(sending=sending).values_list("email", flat=True))
    lost = len(emails - set(received))
    duplicates = sum(received.values()) - len(received)
    assert lost == 0, f"{lost} recipients never received it"
    assert set(received) == emails
    assert duplicates <= max_duplicates, f"{duplicates} duplicates (bound {max_duplicates})"
    sending.refresh_from_db()
    assert sending.sent_count == len(received) == contacts
    assert_counts_add_up()
    return duplicates, lost


def health(client: Client) -> tuple[int, dict]:
    response = client.get("/healthz")
    return response.status_code, json.loads(response.content)


def report(fault: str, **figures) -> None:
    shown = ", ".join(
        f"{name} {value:.1f}" if isinstance(value, float) else f"{name} {value}"
        for name, value in figures.items()
    )
    print(f"\nfault {fault}: {shown}")


def test_postgres_restart_mid_sending_resumes_in_seconds_without_duplicates(
    subaccount, sink, workers
):
    postgres = Postgres()
    start_topology(workers)
    sending = sending_under_way(subaccount, sink)
    client = Client()
    wait_for(lambda: health(client)[0] == 200, timeout=10, what="healthz to be ok")

    postgres.stop()
    down_at = time.monotonic()
    connection.close()
    status, answer = health(client)
    assert status == 503 and answer["checks"]["database"]["status"] == "failing"
    time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))  # the outage itself
    postgres.start()
    back = time.monotonic()
    connection.close()

    wait_until_sent(sending, timeout=60)
    first, full = resumed(sink, back)
    duplicates, lost = outcome_checks(sending, sink, max_duplicates=DELIVERY_PROCESSES)
    assert full <= RESUME_WITHIN_SECONDS, f"full parallelism {full:.1f} s after PostgreSQL"
    report("PostgreSQL restart", resumed_s=first, full_parallelism_s=full, duplicates=duplicates,
           lost=lost)  # fmt: skip


def test_redis_restart_mid_sending_resumes_in_seconds_without_duplicates(subaccount, sink, workers):
    redis = Redis()
    start_topology(workers)
    # Large enough to be still going out when Redis is back.
    sending = sending_under_way(subaccount, sink, contacts=2 * CONTACTS)
    client = Client()
    wait_for(lambda: health(client)[0] == 200, timeout=10, what="healthz to be ok")

    redis.stop()
    down_at = time.monotonic()
    status, answer = health(client)
    assert status == 503
    assert answer["checks"]["redis"]["status"] == answer["checks"]["broker"]["status"] == "failing"
    time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))  # the outage itself
    redis.start()
    back = time.monotonic()

    wait_until_sent(sending, timeout=60)
    gap = longest_gap(sink, since=down_at)
    first, full = resumed(sink, back)
    duplicates, lost = outcome_checks(
        sending, sink, max_duplicates=DELIVERY_PROCESSES, contacts=2 * CONTACTS
    )
    assert full <= RESUME_WITHIN_SECONDS, f"full parallelism {full:.1f} s after Redis"
    assert gap <= RESUME_WITHIN_SECONDS, f"delivery stalled for {gap:.1f} s"
    wait_for(lambda: health(client)[0] == 200, timeout=10, what="healthz to be ok again")
    report("Redis restart", longest_stall_s=gap, resumed_s=first, full_parallelism_s=full,
           duplicates=duplicates, lost=lost)  # fmt: skip


def test_a_delivery_process_killed_mid_sending_loses_nobody(subaccount, sink, workers):
    # A dead process's claims come back after the lease it stopped renewing: short here.
    fast = {"DELIVERY_LEASE_SECONDS": 3, "RECOVERY_INTERVAL_SECONDS": 1}
    doomed, _survivor = start_topology(workers, **fast)
    sending = sending_under_way(subaccount, sink)

    doomed.kill()
    killed = time.monotonic()
    (replacement,) = workers.start(1, beat=False, queues="delivery", **DEFAULTS, **fast)
    started = time.monotonic()

    wait_until_sent(sending, timeout=60)
    _, full = resumed(sink, started)
    # A killed process may resend what it had sent but not recorded yet.
    bound = settings.DELIVERY_RECORD_EVERY + 1
    duplicates, lost = outcome_checks(sending, sink, max_duplicates=bound)
    report("delivery process SIGKILL", replacement_started_s=started - killed,
           full_parallelism_s=full, duplicates=duplicates, lost=lost)  # fmt: skip
    assert replacement.process.poll() is None


def test_smtp_server_down_for_a_while_loses_nobody(subaccount, sink, workers):
    start_topology(workers)
    sending = sending_under_way(subaccount, sink)

    sink.server_stop()
    down_at = time.monotonic()
    time.sleep(3)  # the outage itself
    sink.server_start()
    back = time.monotonic()

    wait_until_sent(sending, timeout=60)
    first, full = resumed(sink, back)
    # A message whose reply the dying server never sent is sent again.
    duplicates, lost = outcome_checks(sending, sink, max_duplicates=DELIVERY_PROCESSES)
    assert first <= 3, f"delivery resumed {first:.1f} s after the SMTP server"
    assert full <= RESUME_WITHIN_SECONDS
    report("SMTP server down 3 s", outage_s=back - down_at, resumed_s=first,
           full_parallelism_s=full, duplicates=duplicates, lost=lost)  # fmt: skip


def test_support_stops_a_sending_while_redis_is_down_and_the_outcome_email_follows(
    subaccount, marketer, support_user, sink, workers, monkeypatch
):
    redis = Redis()
    start_topology(workers)
    # Larger, so that it is still going out when support gets to it; after the stop nothing
    # more is sent, so this costs no time.
    contacts = 4 * CONTACTS
    sending = sending_under_way(subaccount, sink, contacts=contacts)
    marketer_client, support_client = Client(), Client()
    marketer_client.force_login(marketer)
    support_client.force_login(support_user)

    redis.stop()
    # Signed-in pages answer, and the marketer can still file the request.
    assert marketer_client.get(reverse("home"), follow=True).status_code == 200
    response = marketer_client.post(
        reverse("ticket_request", args=[sending.identifier]), {"message": "Wrong segment!"}
    )
    assert response.status_code == 302
    ticket = Ticket.objects.get(sending=sending)
    assert support_client.get(reverse("ticket_queue")).status_code == 200
    assert support_client.get(reverse("ticket_detail", args=[ticket.pk])).status_code == 200

    # The moment the stop commits, taken by an on-commit callback inside its transaction.
    committed: list[float] = []
    stop = support_services.sending_stop

    def sending_stop(**kwargs):
        transaction.on_commit(lambda: committed.append(time.monotonic()))
        return stop(**kwargs)

    monkeypatch.setattr(support_services, "sending_stop", sending_stop)
    before_stop = time.monotonic()
    response = support_client.post(reverse("ticket_stop", args=[ticket.pk]))
    assert response.status_code == 302
    stop_answered = time.monotonic() - before_stop
    [commit_at] = committed
    ticket.refresh_from_db()
    assert ticket.status == "stopped"
    # Workers learn it from the database at their next record; then their claims end.
    wait_for(
        lambda: batch_services.inflight_count(sending_id=sending.pk) == 0,
        timeout=10,
        what="the workers to record the messages in flight",
    )
    after_stop = sum(1 for item in contact_messages(sink) if item.at > commit_at)
    bound = DELIVERY_PROCESSES * settings.DELIVERY_RECORD_EVERY
    assert after_stop <= bound, f"{after_stop} messages reached SMTP after the stop committed"
    assert marketer_client.get(reverse("home"), follow=True).status_code == 200

    redis.start()
    back = time.monotonic()
    wait_for(
        lambda: {SUPPORT, marketer.email} <= {item.rcpt for item in sink.snapshot()},
        timeout=60,
        every=0.2,
        what="the request and outcome emails",
    )
    emails_after = time.monotonic() - back
    assert not [item for item in contact_messages(sink) if item.at > back]
    mails = Counter(item.rcpt for item in sink.snapshot() if not item.rcpt.endswith(".org"))
    assert mails == Counter({SUPPORT: 1, marketer.email: 1})  # each exactly once
    sending.refresh_from_db()
    received = len(contact_messages(sink))
    assert sending.status == "canceled"
    assert sending.sent_count == len({item.rcpt for item in contact_messages(sink)}) == received
    [outcome] = [item.parsed() for item in sink.snapshot() if item.rcpt == marketer.email]
    assert f"{received:,} of {contacts:,} contacts had received it" in outcome.get_content()
    assert_counts_add_up()
    report("support Stop during a Redis outage", stop_answered_s=stop_answered,
           messages_after_stop=after_stop, emails_after_redis_back_s=emails_after)  # fmt: skip


def test_healthz_turns_503_within_a_tick_and_a_half_when_beat_and_workers_die(sink, workers):
    (worker,) = workers.start(1, beat=True, **DEFAULTS)
    client = Client()
    wait_for(lambda: health(client)[0] == 200, timeout=10, what="healthz to be ok")

    worker.kill()
    killed = time.monotonic()

    def both_failing() -> bool:  # beat and the worker beat out of phase: the later one counts
        status, answer = health(client)
        checks = answer["checks"]
        return status == 503 and checks["beat"]["status"] == checks["worker"]["status"] == "failing"

    wait_for(both_failing, timeout=10, every=0.1, what="healthz 503, beat and worker failing")
    noticed = time.monotonic() - killed
    _, answer = health(client)
    assert answer["checks"]["database"]["status"] == answer["checks"]["redis"]["status"] == "ok"
    tick = float(DEFAULTS["DISPATCH_TICK_SECONDS"])
    # Stale a tick and a half after the last tick; plus a poll and a request.
    assert noticed <= 1.5 * tick + 0.3, f"503 only {noticed:.1f} s after beat and worker died"
    report("beat and worker killed", healthz_503_after_s=noticed)
