"""Benchmark: how long sending_confirm takes to snapshot 100,000 and 1,000,000 recipients.

    DATABASE_URL=postgres://USER@HOST:PORT/NAME .venv/bin/python tests/bench/bench_confirm.py

It needs PostgreSQL (the production database): it creates a throwaway database NAME_bench_confirm
(or $BENCH_DATABASE) on that server, migrates it, loads 1,000,000 contacts with the seed_demo
load generator, and drops the database at the end (--keep keeps it). Each confirm runs in a
fresh child process, so its peak RSS (ru_maxrss) is the confirm's, not the data loading's.
Target: 1,000,000 recipients in <= 60 s and <= 300 MB peak RSS.
--explain also prints EXPLAIN ANALYZE of the first chunk of the snapshot INSERT (1,000,000 list).
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
SIZES = (100_000, 1_000_000)
TARGET_RECIPIENTS, TARGET_SECONDS, TARGET_MB = 1_000_000, 60.0, 300.0
POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql"}


def django_setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret")
    import django

    django.setup()


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def plans_for(total: int):
    from django.utils import timezone

    from sendings.services import BatchPlan

    start = timezone.now() + timedelta(days=1)
    third = total // 3
    return [
        BatchPlan(start, third),
        BatchPlan(start + timedelta(days=1), third),
        BatchPlan(start + timedelta(days=2)),
    ]


# --- The child: one confirm, measured -------------------------------------------------------


def child_confirm(sending_id: int, total: int) -> None:
    django_setup()
    from django.db import connection

    from sendings.models import Sending
    from sendings.services import sending_confirm

    sending = Sending.objects.get(pk=sending_id)
    plans = plans_for(total)
    snapshot = {"seconds": 0.0, "statements": 0}

    def time_snapshot(execute, sql, params, many, context):
        # Where the time goes: the snapshot INSERT chunks versus everything else, mostly the
        # COMMIT, which runs the deferred foreign-key checks of every inserted row.
        if not sql.lstrip().startswith("WITH chunk AS"):
            return execute(sql, params, many, context)
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            snapshot["seconds"] += time.perf_counter() - started
            snapshot["statements"] += 1

    before_rss = rss_mb()
    started = time.perf_counter()
    with connection.execute_wrapper(time_snapshot):
        sending_confirm(sending=sending, batches=plans, actor=None)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    print(
        json.dumps(
            {"seconds": seconds, "peak_mb": peak, "rss_before_mb": before_rss,
             "insert_seconds": snapshot["seconds"], "insert_statements": snapshot["statements"]}
        )
    )  # fmt: skip


# --- The parent: database, data, children, report -------------------------------------------


def machine() -> list[tuple[str, str]]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    from django.db import connection

    with connection.cursor() as cursor:
        settings = {}
        for name in ("server_version", "shared_buffers", "work_mem", "fsync",
                     "synchronous_commit", "max_wal_size"):  # fmt: skip
            cursor.execute(f"SHOW {name}")
            settings[name] = cursor.fetchone()[0]
    return [
        ("platform", platform.platform()),
        ("python", platform.python_version()),
        ("cpu", cpu),
        ("nproc", str(len(os.sched_getaffinity(0)))),
        ("memory", f"{mem_kb / 1024 / 1024:.1f} GiB"),
        ("postgresql", settings.pop("server_version")),
        ("pg settings", ", ".join(f"{k}={v}" for k, v in settings.items())),
    ]


def admin_connection(url: str):
    import psycopg

    parts = urlsplit(url)
    return psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True)


def database_create(url: str, name: str) -> None:
    with admin_connection(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def database_drop(url: str, name: str) -> None:
    with admin_connection(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def timed(label: str, func, *args, **kwargs):
    started = time.perf_counter()
    result = func(*args, **kwargs)
    print(f"  {label}: {time.perf_counter() - started:.1f} s", flush=True)
    return result


def data_load():
    """1,000,000 contacts in one list; a second list with every 10th of them (100,000)."""
    from django.core.management import call_command
    from django.db import connection

    from sendings.models import ContactList, ListMembership
    from tests.bench import load

    timed("migrate", call_command, "migrate", verbosity=0)
    subaccount = load.load_subaccount()
    big = timed(
        "load 1,000,000 contacts (seed_demo load generator)",
        load.load_contacts,
        subaccount=subaccount,
        count=max(SIZES),
        list_name="Bench 1,000,000",
    )
    small = ContactList.objects.create(subaccount=subaccount, name="Bench 100,000")
    table = connection.ops.quote_name(ListMembership._meta.db_table)
    step = max(SIZES) // min(SIZES)
    with connection.cursor() as cursor:
        timed(
            "list of every 10th contact",
            cursor.execute,
            f"""
            INSERT INTO {table} (contact_list_id, contact_id, added_at)
            SELECT %s, contact_id, now() FROM (
                SELECT contact_id, row_number() OVER (ORDER BY contact_id) AS n
                FROM {table} WHERE contact_list_id = %s
            ) spread WHERE n %% %s = 0
            """,
            [small.pk, big.pk, step],
        )
        timed("ANALYZE (what autovacuum would do after such a load)", cursor.execute, "ANALYZE")
    return subaccount, {min(SIZES): small, max(SIZES): big}


def draft_for(subaccount, contact_list, total: int):
    from sendings.models import Sending

    sending = Sending.objects.create(
        subaccount=subaccount,
        name=f"Bench confirm {total:,}",
        subject="Benchmark",
        from_email="bench@example.com",
        html_body="<p>Hello</p>",
        text_body="Hello",
    )
    sending.lists.set([contact_list])
    return sending


def confirm_in_child(sending_id: int, total: int) -> dict:
    completed = subprocess.run(
        [sys.executable, __file__, "--child-confirm", str(sending_id), "--total", str(total)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=False,
    )
    if completed.returncode != 0:
        sys.exit(f"confirm failed in the child process:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def result_check(sending_id: int, total: int) -> None:
    from batches.models import Batch, Recipient
    from sendings.models import Sending

    sending = Sending.objects.get(pk=sending_id)
    counts = list(
        Batch.objects.filter(sending=sending).order_by("number").values_list("recipient_count")
    )
    rows = Recipient.objects.filter(sending=sending).count()
    assert (sending.status, sending.total_recipients, rows) == ("scheduled", total, total), (
        sending.status,
        sending.total_recipients,
        rows,
    )
    assert sum(c for (c,) in counts) == total and len(counts) == 3, counts


def explain_first_chunk(subaccount, contact_list) -> str:
    """EXPLAIN ANALYZE of the snapshot INSERT's first chunk, taken from a real confirm that is
    rolled back: the statement is caught on its way to the database, not copied here."""
    from django.db import connection, transaction

    from sendings.services import sending_confirm

    sending = draft_for(subaccount, contact_list, 0)
    plans: list[str] = []

    def explain_once(execute, sql, params, many, context):
        if not plans and sql.lstrip().startswith("WITH chunk AS"):
            with context["connection"].connection.cursor() as cursor:
                cursor.execute("SAVEPOINT bench_explain")
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
                cursor.execute("ROLLBACK TO SAVEPOINT bench_explain")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(explain_once), transaction.atomic():
        sending_confirm(sending=sending, batches=plans_for(max(SIZES)), actor=None)
        transaction.set_rollback(True)
    return plans[0] if plans else "(no snapshot statement seen)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE one chunk")
    parser.add_argument("--child-confirm", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--total", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_confirm:
        child_confirm(args.child_confirm, args.total)
        return

    url = os.environ.get("DATABASE_URL", "")
    parts = urlsplit(url)
    if parts.scheme not in POSTGRES_SCHEMES:
        sys.exit(
            "bench_confirm measures PostgreSQL, the production database: set DATABASE_URL to "
            f"postgres://USER@HOST:PORT/NAME (got {url or 'nothing'!r})."
        )
    name = os.environ.get("BENCH_DATABASE") or f"{parts.path.lstrip('/') or 'bench'}_bench_confirm"
    database_create(url, name)
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path="/" + name))
    try:
        django_setup()
        print(f"bench_confirm: database {name} on {parts.hostname}:{parts.port or 5432}")
        for label, value in machine():
            print(f"  {label:<12} {value}")
        print("Loading data:")
        subaccount, lists = data_load()
        results = []
        for total in SIZES:
            sending = draft_for(subaccount, lists[total], total)
            print(f"Confirming {total:,} recipients in a child process...", flush=True)
            measured = confirm_in_child(sending.pk, total)
            result_check(sending.pk, total)
            results.append((total, measured))
        if args.explain:
            print("\nEXPLAIN ANALYZE, first chunk of the snapshot INSERT (1,000,000 list):")
            print(explain_first_chunk(subaccount, lists[max(SIZES)]))
        report(results)
    finally:
        from django.db import connections

        connections.close_all()
        if args.keep:
            print(f"Kept database {name}.")
        else:
            database_drop(url, name)


def report(results) -> None:
    print()
    header = ("recipients", "seconds", "peak RSS MB", "RSS before MB", "recipients/s",
              "INSERTs s", "rest s")  # fmt: skip
    print("  ".join(f"{h:>13}" for h in header))
    for total, m in results:
        row = (
            f"{total:,}",
            f"{m['seconds']:.1f}",
            f"{m['peak_mb']:.0f}",
            f"{m['rss_before_mb']:.0f}",
            f"{total / m['seconds']:,.0f}",
            f"{m['insert_seconds']:.1f} ({m['insert_statements']})",
            f"{m['seconds'] - m['insert_seconds']:.1f}",
        )
        print("  ".join(f"{cell:>13}" for cell in row))
    print("(INSERTs: the snapshot's INSERT ... SELECT chunks; rest: mostly the COMMIT, which")
    print(" runs the deferred foreign-key checks of every recipient row.)")
    target = dict(results).get(TARGET_RECIPIENTS)
    if target:
        ok = target["seconds"] <= TARGET_SECONDS and target["peak_mb"] <= TARGET_MB
        print(
            f"\nTarget: {TARGET_RECIPIENTS:,} recipients in <= {TARGET_SECONDS:.0f} s and "
            f"<= {TARGET_MB:.0f} MB: {'PASS' if ok else 'FAIL'} "
            f"({target['seconds']:.1f} s, {target['peak_mb']:.0f} MB)"
        )


if __name__ == "__main__":
    main()
