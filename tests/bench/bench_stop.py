"""Benchmark: how fast a support stop reaches the workers delivering a batch, at any size.

    make bench BENCH=stop
    DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://.../0 REDIS_URL=redis://.../1 \
        .venv/bin/python tests/bench/bench_stop.py [--rounds 20] [--big-rounds 3] \
        [--sizes 20000,1000000] [--workers 2] [--seed N]

It creates a throwaway database NAME_bench_stop on DATABASE_URL's server and loads a contact
list per size (20,000 and 1,000,000 by default). For each worker count it starts that many
real `celery worker --pool=solo` processes (once, kept across rounds; the first runs beat)
pointed at an aiosmtpd sink on loopback, then, for each size, runs ROUNDS rounds (BIG_ROUNDS
for sizes above 100,000): a fresh sending of that size (one batch, due at once) is delivered
until the sink has received a random number of its messages between 500 and 10,000; then
`sending_stop` runs as a support user. The commit moment is when its on_commit callback (the
halt announcement) starts, a little before sending_stop returns (messages after each are
reported). About a second later the round counts the sink's messages accepted after the
commit and the time from the commit to the last message; then it waits for the stopped
batch's recipient rows to catch up (the deferred cancel, run by a worker) and reports how
long that took. It also checks the batch is canceled, its counts add up, its Sent count
equals what the sink accepted, and, once caught up, that its rows say what its counters say
(a FAIL line otherwise).

Targets, at every size: at most 1 message per worker after the commit (0 expected); the last
message at most 250 ms after it; the sending_stop call under 100 ms.
"""

import argparse
import contextlib
import random
import statistics
import sys
import threading
import time
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.common import (
    bench_database,
    confirmed_sending,
    load_average,
    median_max,
    say,
    support_user,
    timed,
    verdict,
    wait_for,
    worker_pool,
)

SIZES = (20_000, 1_000_000)
ROUNDS = 20
BIG = 100_000  # sizes above this run BIG_ROUNDS rounds (a 1,000,000 confirm takes ~20 s)
BIG_ROUNDS = 3
STOP_AFTER = (500, 10_000)
SETTLE_SECONDS = 1.0
CATCH_UP_TIMEOUT = 600.0
TARGET_MESSAGES_PER_WORKER = 1
TARGET_MS = 250.0
TARGET_CALL_MS = 100.0


class CatchUpWatch:
    """When the stopped batch's rows caught up: polled from a thread of its own, from the
    moment the stop returned, so the figure does not wait for the rest of the round."""

    def __init__(self, batch_id: int):
        self.batch_id, self.at = batch_id, None
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        from django.db import connection

        from batches.models import Batch

        deadline = time.monotonic() + CATCH_UP_TIMEOUT
        catching_up = Batch.objects.filter(pk=self.batch_id, rows_catching_up=True)
        try:
            while time.monotonic() < deadline:
                if not catching_up.exists():
                    self.at = time.monotonic()
                    return
                time.sleep(0.01)
        finally:
            connection.close()


def one_round(
    number: int, rounds: int, sink, subaccount, contact_list, actor, rng, *, size: int
) -> dict:
    from datetime import timedelta

    from django.conf import settings
    from django.db.models import Count
    from django.utils import timezone

    from batches import services
    from batches.models import Batch, Recipient
    from sendings.services import sending_stop

    base = sink.count()
    stop_after = rng.randint(*STOP_AFTER)
    confirm_started = time.monotonic()
    _, batch = confirmed_sending(
        subaccount,
        contact_list,
        name=f"Bench stop {size} {number}",
        scheduled_at=timezone.now() + timedelta(milliseconds=300),
    )
    confirm_s = time.monotonic() - confirm_started
    wait_for(
        lambda: sink.count() - base >= stop_after,
        timeout=60 + stop_after / 50,
        every=0.005,
        what=f"{stop_after:,} messages",
    )
    # The stop's on_commit callback announces the halt: the moment it runs is the commit.
    hooked: list[float] = []

    def announce(batch_id, original=services.halt_announce):
        hooked.append(time.monotonic())
        original(batch_id)

    before = time.monotonic()
    with mock.patch.object(services, "halt_announce", announce):
        sending_stop(sending=batch.sending, actor=actor)
    returned = time.monotonic()
    committed = hooked[0] if hooked else returned
    caught_up = CatchUpWatch(batch.pk)
    pending_at_stop = Recipient.objects.filter(batch=batch, status="pending").count()
    time.sleep(SETTLE_SECONDS)
    received = sink.snapshot()[base:]
    after_commit = [item.at for item in received if item.at > committed]
    after_call = sum(1 for item in received if item.at > before)
    last = max(item.at for item in received)

    problems = []
    with contextlib.suppress(TimeoutError):  # reported below
        wait_for(
            lambda: Batch.objects.get(pk=batch.pk).sent_count == len(sink.snapshot()[base:]),
            timeout=10,
            what="the Sent count to match the sink",
        )
    caught_up.thread.join(CATCH_UP_TIMEOUT)
    caught_up_s = None if caught_up.at is None else max(0.0, caught_up.at - committed)
    batch.refresh_from_db()
    delivered = len(sink.snapshot()[base:])
    rows = dict(
        Recipient.objects.filter(batch=batch)
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    if caught_up_s is None:
        problems.append(f"rows not caught up after {CATCH_UP_TIMEOUT:.0f} s")
    elif rows != {
        status: count
        for status, count in (
            ("sent", batch.sent_count),
            ("failed", batch.failed_count),
            ("canceled", batch.canceled_count),
        )
        if count
    }:
        problems.append(f"rows {rows} do not match the counters")
    if batch.status != "canceled":
        problems.append(f"batch is {batch.status}, not canceled")
    if batch.sent_count != delivered:
        problems.append(f"Sent count {batch.sent_count:,} but the sink accepted {delivered:,}")
    if batch.sent_count + batch.failed_count + batch.canceled_count != batch.recipient_count:
        problems.append("sent + failed + canceled != recipients")
    result = {
        # Workers record every DELIVERY_RECORD_EVERY messages under the sending's row lock,
        # which the stop holds until it commits (milliseconds now): totals on that boundary
        # in more rounds than chance gives would mean they were parked there, not halted.
        "on_boundary": delivered % settings.DELIVERY_RECORD_EVERY == 0,
        "stop_after": stop_after,
        "at_stop": len(received) - len(after_commit),
        "after": len(after_commit),
        "after_call": after_call,
        "call_ms": (returned - before) * 1000,
        "after_return": sum(1 for item in received if item.at > returned),
        "to_last_ms": max(0.0, last - committed) * 1000,
        "confirm_s": confirm_s,
        "pending_at_stop": pending_at_stop,
        "caught_up_s": caught_up_s,
        "problems": problems,
    }
    caught = "never" if caught_up_s is None else f"{caught_up_s:.1f} s"
    say(
        f"  {size:,} round {number:>2}/{rounds}: confirm {confirm_s:.1f} s; stop after "
        f"{stop_after:>6,}; sending_stop took {result['call_ms']:5.1f} ms; {result['after']} "
        f"message(s) after the commit ({after_call} after the call began, "
        f"{result['after_return']} after it returned); last message "
        f"{result['to_last_ms']:5.1f} ms after the commit; delivered {delivered:,}; "
        f"{pending_at_stop:,} pending rows caught up {caught} after the commit"
        + "".join(f"  FAIL: {problem}" for problem in problems)
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--big-rounds", type=int, default=BIG_ROUNDS,
                        help=f"rounds for sizes above {BIG:,}")  # fmt: skip
    parser.add_argument("--sizes", default=",".join(str(n) for n in SIZES),
                        help="recipients per sending, comma-separated")  # fmt: skip
    parser.add_argument("--workers", default="2", help="worker counts, comma-separated (e.g. 1,2)")
    parser.add_argument("--seed", type=int, help="random seed of the stop points")
    args = parser.parse_args()
    worker_counts = [int(n) for n in args.workers.split(",") if n.strip()]
    sizes = [int(n) for n in args.sizes.split(",") if n.strip()]
    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    rng = random.Random(seed)

    from tests.smtp_sink import SmtpSink

    with bench_database("stop") as database:
        from tests.bench import load

        subaccount = load.load_subaccount()
        lists = {
            size: timed(
                f"load {size:,} contacts (seed_demo load generator)",
                load.load_contacts,
                subaccount=subaccount,
                count=size,
                list_name=f"Bench {size:,}",
            )
            for size in sizes
        }
        actor = support_user()
        say(f"Stop points drawn with --seed {seed}.")
        results = {}
        for workers in worker_counts:
            with (
                SmtpSink() as sink,
                worker_pool(database=database, email_port=sink.port, count=workers),
            ):
                for size in sizes:
                    rounds = args.big_rounds if size > BIG else args.rounds
                    say(f"{rounds} rounds of {size:,} recipients with {workers} worker(s):")
                    results[workers, size] = [
                        one_round(n, rounds, sink, subaccount, lists[size], actor, rng, size=size)
                        for n in range(1, rounds + 1)
                    ]
        report(results)


def report(results: dict[tuple[int, int], list[dict]]) -> None:
    say()
    say(f"Results, one-batch sendings stopped at random points ({load_average()}):")
    for (workers, size), rounds in results.items():
        after = [r["after"] for r in rounds]
        to_last = [r["to_last_ms"] for r in rounds]
        calls = [r["call_ms"] for r in rounds]
        caught = [r["caught_up_s"] for r in rounds if r["caught_up_s"] is not None]
        problems = [p for r in rounds for p in r["problems"]]
        say(f"  {size:,} recipients, {workers} worker(s), {len(rounds)} rounds:")
        say(f"    confirm:                               "
            f"{median_max([r['confirm_s'] for r in rounds], ' s', 1)}")  # fmt: skip
        say(f"    messages after the commit:           {median_max(after)}")
        say(f"    after sending_stop returned:           "
            f"{median_max([r['after_return'] for r in rounds])}")  # fmt: skip
        say(f"    after sending_stop was called:         "
            f"{median_max([r['after_call'] for r in rounds])}")  # fmt: skip
        say(f"    commit to the last message:          {median_max(to_last, ' ms', 1)}")
        say(f"    sending_stop call (begin to return):   {median_max(calls, ' ms', 1)}")
        say(f"    delivered before the stop:           "
            f"{median_max([r['at_stop'] for r in rounds])}")  # fmt: skip
        say(f"    pending rows at the stop:              "
            f"{median_max([r['pending_at_stop'] for r in rounds])}")  # fmt: skip
        say(f"    commit to every row caught up:         {median_max(caught, ' s', 1)}")
        parked = sum(r["on_boundary"] for r in rounds)
        say(f"    rounds whose total was a multiple of DELIVERY_RECORD_EVERY: {parked} of "
            f"{len(rounds)} (chance alone: 1 in DELIVERY_RECORD_EVERY)")  # fmt: skip
        limit = TARGET_MESSAGES_PER_WORKER * workers
        say(f"    Target: <= {limit} message(s) after the commit ({TARGET_MESSAGES_PER_WORKER} "
            f"per worker): {verdict(max(after) <= limit)} (max {max(after)})")  # fmt: skip
        say(f"    Target: last message <= {TARGET_MS:.0f} ms after the commit: "
            f"{verdict(max(to_last) <= TARGET_MS)} (max {max(to_last):.1f} ms, median "
            f"{statistics.median(to_last):.1f} ms)")  # fmt: skip
        say(f"    Target: sending_stop call < {TARGET_CALL_MS:.0f} ms: "
            f"{verdict(max(calls) < TARGET_CALL_MS)} (max {max(calls):.1f} ms, median "
            f"{statistics.median(calls):.1f} ms)")  # fmt: skip
        if problems:
            say(f"    FAIL: {len(problems)} consistency problem(s): {problems[0]}")
    say("  (the commit moment is when the stop's on_commit callback, the halt announcement,")
    say("   starts: right after COMMIT returned, before sending_stop returns; a last message")
    say("   before it counts as 0 ms)")


if __name__ == "__main__":
    main()
