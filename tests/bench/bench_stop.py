"""Benchmark: how fast a support stop reaches the workers delivering a batch.

    make bench BENCH=stop
    DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://.../0 REDIS_URL=redis://.../1 \
        .venv/bin/python tests/bench/bench_stop.py [--rounds 20] [--workers 2] [--seed N]

It creates a throwaway database NAME_bench_stop on DATABASE_URL's server and loads 20,000
contacts. For each worker count it starts that many real `celery worker --pool=solo`
processes (once, kept across rounds) pointed at an aiosmtpd sink on loopback, then runs
ROUNDS rounds: a fresh 20,000-recipient sending (one batch, due at once) is delivered until the
sink has received a random number of its messages between 500 and 10,000; then `sending_stop`
runs as a support user. The commit moment is when its on_commit callback (the halt
announcement) starts, a little before sending_stop returns (messages after each are reported).
About a second later the round counts the sink's messages accepted after the commit and the
time from the commit to the last message. It also checks the batch is canceled, its counts
add up, and its Sent count equals what the sink accepted (a FAIL line otherwise).

Targets: at most 1 message per worker after the commit; the last message at most 250 ms after it.
"""

import argparse
import contextlib
import random
import statistics
import sys
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

RECIPIENTS = 20_000
ROUNDS = 20
STOP_AFTER = (500, 10_000)
SETTLE_SECONDS = 1.0
TARGET_MESSAGES_PER_WORKER = 1
TARGET_MS = 250.0


def one_round(number: int, rounds: int, sink, subaccount, contact_list, actor, rng) -> dict:
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from batches import services
    from batches.models import Batch
    from sendings.services import sending_stop

    base = sink.count()
    stop_after = rng.randint(*STOP_AFTER)
    _, batch = confirmed_sending(
        subaccount,
        contact_list,
        name=f"Bench stop {number}",
        scheduled_at=timezone.now() + timedelta(milliseconds=300),
    )
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
    batch.refresh_from_db()
    delivered = len(sink.snapshot()[base:])
    if batch.status != "canceled":
        problems.append(f"batch is {batch.status}, not canceled")
    if batch.sent_count != delivered:
        problems.append(f"Sent count {batch.sent_count:,} but the sink accepted {delivered:,}")
    if batch.sent_count + batch.failed_count + batch.canceled_count != batch.recipient_count:
        problems.append("sent + failed + canceled != recipients")
    result = {
        # Workers record every DELIVERY_RECORD_EVERY messages under the sending's row lock,
        # which the stop holds until it commits: a total on that boundary means they were
        # parked there, not halted by the halt key.
        "on_boundary": delivered % settings.DELIVERY_RECORD_EVERY == 0,
        "stop_after": stop_after,
        "at_stop": len(received) - len(after_commit),
        "after": len(after_commit),
        "after_call": after_call,
        "call_ms": (returned - before) * 1000,
        "after_return": sum(1 for item in received if item.at > returned),
        "to_last_ms": max(0.0, last - committed) * 1000,
        "problems": problems,
    }
    say(
        f"  round {number:>2}/{rounds}: stop after {stop_after:>6,}; sending_stop took "
        f"{result['call_ms']:5.1f} ms; {result['after']} message(s) after the commit "
        f"({after_call} after the call began, {result['after_return']} after it returned); last "
        f"message "
        f"{result['to_last_ms']:5.1f} ms after the commit; delivered {delivered:,}"
        + "".join(f"  FAIL: {problem}" for problem in problems)
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--workers", default="2", help="worker counts, comma-separated (e.g. 1,2)")
    parser.add_argument("--seed", type=int, help="random seed of the stop points")
    args = parser.parse_args()
    worker_counts = [int(n) for n in args.workers.split(",") if n.strip()]
    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    rng = random.Random(seed)

    from tests.smtp_sink import SmtpSink

    with bench_database("stop") as database:
        from tests.bench import load

        subaccount = load.load_subaccount()
        contact_list = timed(
            f"load {RECIPIENTS:,} contacts (seed_demo load generator)",
            load.load_contacts,
            subaccount=subaccount,
            count=RECIPIENTS,
            list_name=f"Bench {RECIPIENTS:,}",
        )
        actor = support_user()
        say(f"Stop points drawn with --seed {seed}.")
        results = {}
        for workers in worker_counts:
            say(f"{args.rounds} rounds with {workers} worker process(es):")
            with (
                SmtpSink() as sink,
                worker_pool(database=database, email_port=sink.port, count=workers),
            ):
                results[workers] = [
                    one_round(n, args.rounds, sink, subaccount, contact_list, actor, rng)
                    for n in range(1, args.rounds + 1)
                ]
        report(results)


def report(results: dict[int, list[dict]]) -> None:
    say()
    say(f"Results, {RECIPIENTS:,}-recipient batches stopped at random points ({load_average()}):")
    for workers, rounds in results.items():
        after = [r["after"] for r in rounds]
        to_last = [r["to_last_ms"] for r in rounds]
        calls = [r["call_ms"] for r in rounds]
        problems = [p for r in rounds for p in r["problems"]]
        say(f"  {workers} worker(s), {len(rounds)} rounds:")
        say(f"    messages after the commit:           {median_max(after)}")
        say(f"    after sending_stop returned:           "
            f"{median_max([r['after_return'] for r in rounds])}")  # fmt: skip
        say(f"    after sending_stop was called:         "
            f"{median_max([r['after_call'] for r in rounds])}")  # fmt: skip
        say(f"    commit to the last message:          {median_max(to_last, ' ms', 1)}")
        say(f"    sending_stop call (begin to return):   {median_max(calls, ' ms', 1)}")
        say(f"    delivered before the stop:           "
            f"{median_max([r['at_stop'] for r in rounds])}")  # fmt: skip
        parked = sum(r["on_boundary"] for r in rounds)
        say(f"    rounds whose total was a multiple of DELIVERY_RECORD_EVERY: {parked} of "
            f"{len(rounds)} (workers waiting on the stop's row lock at their record)")  # fmt: skip
        limit = TARGET_MESSAGES_PER_WORKER * workers
        say(f"    Target: <= {limit} message(s) after the commit ({TARGET_MESSAGES_PER_WORKER} "
            f"per worker): {verdict(max(after) <= limit)} (max {max(after)})")  # fmt: skip
        say(f"    Target: last message <= {TARGET_MS:.0f} ms after the commit: "
            f"{verdict(max(to_last) <= TARGET_MS)} (max {max(to_last):.1f} ms, median "
            f"{statistics.median(to_last):.1f} ms)")  # fmt: skip
        if problems:
            say(f"    FAIL: {len(problems)} consistency problem(s): {problems[0]}")
    say("  (the commit moment is when the stop's on_commit callback, the halt announcement,")
    say("   starts: right after COMMIT returned, before sending_stop returns; a last message")
    say("   before it counts as 0 ms)")


if __name__ == "__main__":
    main()
