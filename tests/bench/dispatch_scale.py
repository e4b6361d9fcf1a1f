"""bench_dispatch's scaling part: 1, 2, 4 and 8 delivery processes into a sink that is not the
bottleneck (Postfix's smtp-sink, tests/bench/fast_sink.py), beside a plain smtplib loop into
the same sink, so the pipeline's own cost per message is visible.

Each run is the production topology: a worker with beat on "dispatch", N `--pool=solo`
processes on "delivery", DELIVERY_PARALLELISM=N. Measured per run: recipients/s (batch
started_at to finished_at), per process, the ratio to 1 process, the CPU the delivery
processes and PostgreSQL spent per message, PostgreSQL's commits and WAL bytes per message
(pg_stat_database, pg_current_wal_lsn), and the load average. Checks: the batch is sent with
sent_count = recipients and the sink accepted exactly that many messages.
"""

import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from tests.bench.common import (
    confirmed_sending,
    load_average,
    postmaster_pid,
    say,
    tree_cpu_seconds,
    verdict,
    wait_for,
    worker_pool,
)
from tests.bench.fast_sink import FastSink, FastSinkMissing

PROCESSES = (1, 2, 4, 8)
BENCH_DISPATCH = Path(__file__).with_name("bench_dispatch.py")


def database_counters() -> tuple[int, int]:
    """(commits so far in this database, WAL position in bytes)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT xact_commit, pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint "
            "FROM pg_stat_database WHERE datname = current_database()"
        )
        commits, wal = cursor.fetchone()
    return commits, wal


def plain_into(sink: FastSink, people_file: str, count: int) -> float:
    """bench_dispatch's plain loop B (pre-built bytes, one connection) into `sink`."""
    import json

    before = sink.count()
    completed = subprocess.run(
        [sys.executable, str(BENCH_DISPATCH), "--child-plain", str(sink.port),
         "--variant", "prebuilt", "--people", people_file],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if completed.returncode != 0:
        raise RuntimeError(f"the plain loop failed:\n{completed.stderr[-3000:]}")
    seconds = json.loads(completed.stdout.strip().splitlines()[-1])["seconds"]
    time.sleep(0.2)
    accepted = sink.count() - before
    rate = count / seconds
    note = "" if accepted == count else f" FAIL: the sink counted {accepted:,}"
    say(f"  plain loop B into smtp-sink: {rate:,.0f} messages/s{note}")
    return rate


def scale_run(database: str, subaccount, contact_list, processes: int, total: int) -> dict:
    from django.utils import timezone

    from batches.models import Batch

    say(f"Pipeline with {processes} delivery process(es) into smtp-sink, {total:,} recipients...")
    with (
        FastSink() as sink,
        worker_pool(database=database, email_port=sink.port, count=1, queues="dispatch",
                    DELIVERY_PARALLELISM=processes) as pool,
    ):  # fmt: skip
        delivery = pool.start(processes, beat=False, queues="delivery",
                              DELIVERY_PARALLELISM=processes)  # fmt: skip
        scheduled_at = timezone.now() + timedelta(seconds=3)
        _, batch = confirmed_sending(
            subaccount, contact_list, name=f"Bench scale, {processes}", scheduled_at=scheduled_at
        )
        wait_for(
            lambda: Batch.objects.values_list("status", flat=True).get(pk=batch.pk) != "scheduled",
            timeout=60, every=0.05, what="the batch to start",
        )  # fmt: skip
        postmaster = postmaster_pid()
        commits, wal = database_counters()
        pg_cpu = tree_cpu_seconds(postmaster) if postmaster else None
        cpu = sum(tree_cpu_seconds(w.process.pid) for w in delivery)
        wait_for(
            lambda: Batch.objects.values_list("status", flat=True).get(pk=batch.pk) == "sent",
            timeout=120 + total / 50, every=0.2, what="the batch to be sent",
        )  # fmt: skip
        commits_after, wal_after = database_counters()
        pg_cpu = tree_cpu_seconds(postmaster) - pg_cpu if postmaster else None
        cpu = sum(tree_cpu_seconds(w.process.pid) for w in delivery) - cpu
        load = load_average()
        wait_for(lambda: sink.count() >= total, timeout=5, what="the sink to settle")
        time.sleep(0.3)
        accepted = sink.count()
    batch.refresh_from_db()
    active = (batch.finished_at - batch.started_at).total_seconds()
    problems = []
    if batch.sent_count != total:
        problems.append(f"sent_count {batch.sent_count:,} of {total:,}")
    if accepted != total:
        problems.append(f"the sink accepted {accepted:,} messages for {total:,} recipients")
    result = {
        "processes": processes,
        "rate": total / active,
        "active": active,
        "cpu_ms": cpu / total * 1000,
        "pg_cpu_ms": None if pg_cpu is None else pg_cpu / total * 1000,
        "commits": (commits_after - commits) / total,
        "wal": (wal_after - wal) / total,
        "load": load,
        "problems": problems,
    }
    say(f"  {active:.1f} s, {result['rate']:,.0f} messages/s; {load}")
    for problem in problems:
        say(f"  FAIL: {problem}")
    return result


def scale_runs(database: str, subaccount, contact_list, people_file: str, total: int,
               processes=PROCESSES) -> dict | None:  # fmt: skip
    try:
        with FastSink() as sink:
            say(f"Plain loop into smtp-sink ({sink.binary}), {total:,} messages...")
            plain = [plain_into(sink, people_file, total)]
    except FastSinkMissing as missing:
        say(f"Skipping the scaling part: {missing}")
        return None
    runs = [scale_run(database, subaccount, contact_list, n, total) for n in processes]
    with FastSink() as sink:
        plain.append(plain_into(sink, people_file, total))
    return {"plain": plain, "runs": runs, "total": total}


def scale_report(scale: dict) -> None:
    plain = sum(scale["plain"]) / len(scale["plain"])
    one = scale["runs"][0]["rate"] / scale["runs"][0]["processes"]
    say()
    say(f"Delivery processes into smtp-sink, {scale['total']:,} recipients a run:")
    say(f"  plain loop B (pre-built bytes, one connection): "
        f"{', '.join(f'{r:,.0f}' for r in scale['plain'])}/s, before and after (mean "
        f"{plain:,.0f})")  # fmt: skip
    header = ("processes", "recipients/s", "per process", "x 1 process", "x plain loop",
              "worker CPU ms", "PG CPU ms", "commits/msg", "WAL B/msg")  # fmt: skip
    say("  " + "".join(f"{h:>14}" for h in header))
    for run in scale["runs"]:
        n = run["processes"]
        pg = "n/a" if run["pg_cpu_ms"] is None else f"{run['pg_cpu_ms']:.2f}"
        rate = run["rate"]
        row = (n, f"{rate:,.0f}", f"{rate / n:,.0f}", f"{rate / one:.2f}", f"{rate / plain:.2f}",
               f"{run['cpu_ms']:.2f}", pg, f"{run['commits']:.3f}",
               f"{run['wal']:,.0f}")  # fmt: skip
        say("  " + "".join(f"{cell!s:>14}" for cell in row))
        say(f"  {'':>14}{run['load']}")
    say("  CPU ms and commits per message delivered; PG CPU is the whole cluster's (beat,")
    say("  recovery and this benchmark's polling included). One 2-CPU machine runs it all.")
    ok = all(not run["problems"] for run in scale["runs"])
    say(f"Every scaling run delivered each recipient once and Sent = the sink's count: "
        f"{verdict(ok)}")  # fmt: skip
