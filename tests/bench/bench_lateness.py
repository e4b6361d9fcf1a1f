"""Benchmark: how late scheduled batches start, with one worker and its embedded beat.

    make bench BENCH=lateness
    DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://.../0 REDIS_URL=redis://.../1 \
        .venv/bin/python tests/bench/bench_lateness.py [--batches 20] [--recipients 200]

It creates a throwaway database NAME_bench_lateness on DATABASE_URL's server, starts one real
`celery worker --pool=solo -B` process (beat ticking every DISPATCH_TICK_SECONDS = 1 s, the
default) pointed at an aiosmtpd sink on loopback, and confirms 20 sendings of one batch of 200
recipients each, due at staggered times 2 to 3 s apart from 5 s after the worker is ready.
For each batch: lateness = started_at - scheduled_at, and the time from scheduled_at to the
sink's first message of that batch. Checks: no batch starts or delivers before its time, and
each batch delivers every recipient exactly once (a FAIL line otherwise).

Target: every batch starts at most 1 s late.
"""

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.common import (
    bench_database,
    confirmed_sending,
    load_average,
    median_max,
    say,
    verdict,
    worker_pool,
)

BATCHES = 20
RECIPIENTS = 200
FIRST_AFTER_SECONDS = 5.0
GAP_SECONDS = (2.0, 3.0)
TICK_SECONDS = 1.0
TARGET_SECONDS = 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=BATCHES)
    parser.add_argument("--recipients", type=int, default=RECIPIENTS)
    parser.add_argument("--seed", type=int, help="random seed of the gaps")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    rng = random.Random(seed)

    from tests.smtp_sink import SmtpSink

    with bench_database("lateness") as database:
        from datetime import timedelta

        from django.utils import timezone

        from tests.bench import load

        subaccount = load.load_subaccount()
        lists = [
            load.load_contacts(
                subaccount=subaccount, count=args.recipients, list_name=f"Lateness {n}"
            )
            for n in range(1, args.batches + 1)
        ]
        say(f"Loaded {args.batches} lists of {args.recipients:,} contacts; gaps drawn with "
            f"--seed {seed}.")  # fmt: skip
        with (
            SmtpSink() as sink,
            worker_pool(
                database=database,
                email_port=sink.port,
                count=1,
                DISPATCH_TICK_SECONDS=TICK_SECONDS,
            ),
        ):
            ready = timezone.now()
            due = ready + timedelta(seconds=FIRST_AFTER_SECONDS)
            batches = []
            for n, contact_list in enumerate(lists, start=1):
                _, batch = confirmed_sending(
                    subaccount, contact_list, name=f"Bench lateness {n}", scheduled_at=due
                )
                batches.append(batch)
                due += timedelta(seconds=rng.uniform(*GAP_SECONDS))
            confirmed = timezone.now()
            first_at = batches[0].scheduled_at
            last_at = batches[-1].scheduled_at
            say(f"  {args.batches} sendings confirmed in {(confirmed - ready).total_seconds():.1f}"
                f" s; due from {(first_at - confirmed).total_seconds():.1f} s to "
                f"{(last_at - confirmed).total_seconds():.1f} s from now")  # fmt: skip
            results = wait_and_measure(batches, sink, args.recipients)
        report(results)


def wait_and_measure(batches, sink, recipients: int) -> list[dict]:
    from django.utils import timezone

    from batches.models import Batch, Recipient

    ids = [batch.pk for batch in batches]
    deadline = time.monotonic() + 30 + (batches[-1].scheduled_at - timezone.now()).total_seconds()
    reported = 0
    while True:
        statuses = Counter(Batch.objects.filter(pk__in=ids).values_list("status", flat=True))
        done = statuses["sent"] + statuses["canceled"]
        if done >= reported + 5 or done == len(ids):
            reported = done
            say(f"  ... {done} of {len(ids)} batches sent, {sink.count():,} messages")
        if done == len(ids):
            break
        if time.monotonic() > deadline:
            say(f"  FAIL: gave up waiting; batch statuses {dict(statuses)}")
            break
        time.sleep(0.25)
    time.sleep(0.2)
    first_wall: dict[str, float] = {}
    counts = Counter()
    for item in sink.snapshot():
        counts[item.rcpt] += 1
        first_wall[item.rcpt] = min(first_wall.get(item.rcpt, item.wall), item.wall)
    results = []
    for number, batch in enumerate(Batch.objects.filter(pk__in=ids).order_by("scheduled_at"), 1):
        emails = [
            e.lower() for e in Recipient.objects.filter(batch=batch).values_list("email", flat=True)
        ]
        walls = [first_wall[e] for e in emails if e in first_wall]
        problems = []
        if batch.status != "sent" or batch.sent_count != recipients:
            problems.append(f"batch {batch.status}, Sent {batch.sent_count}")
        if sum(counts[e] for e in emails) != recipients or any(counts[e] != 1 for e in emails):
            problems.append("the sink did not get each recipient exactly once")
        lateness = (
            (batch.started_at - batch.scheduled_at).total_seconds() if batch.started_at else None
        )
        first = min(walls) - batch.scheduled_at.timestamp() if walls else None
        if lateness is not None and lateness < 0:
            problems.append("started before its time")
        if first is not None and first < 0:
            problems.append("a message went out before its time")
        results.append({"lateness": lateness, "first": first, "problems": problems})
        say(
            f"  batch {number:>2}: started "
            + (f"{lateness * 1000:6.1f} ms" if lateness is not None else "never")
            + " after its time; first message "
            + (f"{first * 1000:6.1f} ms" if first is not None else "never")
            + " after it"
            + "".join(f"  FAIL: {p}" for p in problems)
        )
    return results


def report(results: list[dict]) -> None:
    lateness = [r["lateness"] * 1000 for r in results if r["lateness"] is not None]
    first = [r["first"] * 1000 for r in results if r["first"] is not None]
    problems = [p for r in results for p in r["problems"]]
    say()
    say(f"Results, {len(results)} batches, 1 worker with embedded beat ticking every "
        f"{TICK_SECONDS:g} s ({load_average()}):")  # fmt: skip
    say(f"  started_at - scheduled_at:              {median_max(lateness, ' ms', 1)}")
    say(f"  scheduled_at to the first message:      {median_max(first, ' ms', 1)}")
    started_all = len(lateness) == len(results)
    worst = max(lateness) if lateness else float("inf")
    ok = started_all and worst <= TARGET_SECONDS * 1000
    say(f"Target: every batch starts <= {TARGET_SECONDS:g} s late: {verdict(ok)} "
        f"(max {worst:.1f} ms)")  # fmt: skip
    if problems:
        say(f"FAIL: {len(problems)} problem(s), e.g. {problems[0]}")


if __name__ == "__main__":
    main()
