"""Benchmark: one sending of 10,000,000 recipients, confirmed, delivered, stopped and exported.

    make bench BENCH=scale
    BENCH_SCALE_RECIPIENTS=1000000 make bench BENCH=scale      (a quick run)
    DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://.../0 REDIS_URL=redis://.../1 \
        .venv/bin/python tests/bench/bench_scale.py [--recipients N] [--no-explain]

It creates a throwaway database NAME_bench_scale, loads N contacts (BENCH_SCALE_RECIPIENTS,
default 10,000,000) in one list and 50,000 more in another, and then, side by side in one run:

1. confirm: `sending_confirm` of the N-contact list as one batch, in a fresh child process so
   its peak RSS is the confirm's own (seconds, peak RSS, the INSERT chunks against the rest,
   which is mostly the COMMIT);
2. delivery: `batch_deliver` in this process with Django's locmem mail backend for
   DELIVER_SECONDS on the large batch, and on a 50,000-recipient batch before and after it:
   recipients a second per process at each size, and their ratio;
3. stop: two real worker processes deliver the large batch into an aiosmtpd sink; after a
   random number of messages support stops it (`sending_stop`, the public service): the call
   and commit in ms, the messages the sink accepted after the commit, how many recipients were
   still pending, and the time until every count is final (no recipient pending, the Sent
   count equal to what the sink accepted, the counts adding up);
4. export: the recipients CSV of all N rows through the view, in a fresh child process
   (seconds, peak RSS);
5. EXPLAIN (ANALYZE, BUFFERS) of a snapshot chunk, a claim, a record, recovery and an export
   chunk at that size, key lines only (--no-explain skips it; docs/scale.md has them).

Targets: confirm <= 150 s and <= 300 MB; stop commit <= 100 ms with 9,000,000 still pending
(at 10,000,000); 0 messages after the commit; per-process delivery rate within 10% of the
50,000-recipient rate.
"""

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.common import (
    bench_database,
    confirmed_sending,
    load_average,
    say,
    support_user,
    timed,
    verdict,
    wait_for,
    worker_pool,
)

RECIPIENTS = int(os.environ.get("BENCH_SCALE_RECIPIENTS") or 10_000_000)
SMALL = 50_000
DELIVER_SECONDS = float(os.environ.get("BENCH_SCALE_DELIVER_SECONDS") or 20)
STOP_AFTER = (2_000, 20_000)
TARGET_CONFIRM_S, TARGET_CONFIRM_MB = 150.0, 300.0
TARGET_STOP_MS, TARGET_PENDING_AT_STOP = 100.0, 9_000_000
TARGET_RATE_RATIO = 0.9
LOCMEM = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
HERE = Path(__file__).resolve()


# --- Children: a confirm and an export, each in a fresh process for its own peak RSS ------------


def child_confirm(sending_id: int, explain: bool) -> None:
    from tests.bench.bench_confirm import django_setup

    django_setup()
    from django.db import connection
    from django.utils import timezone

    from sendings.models import Sending
    from sendings.services import SNAPSHOT_CHUNK, BatchPlan, sending_confirm

    sending = Sending.objects.get(pk=sending_id)
    spent = {"insert": 0.0, "statements": 0, "explain": 0.0}
    plans: list[str] = []
    explain_at = max(1, RECIPIENTS // SNAPSHOT_CHUNK - 2)  # a chunk late in the snapshot

    def watch(execute, sql, params, many, context):
        if not sql.lstrip().startswith("WITH chunk AS"):
            return execute(sql, params, many, context)
        spent["statements"] += 1
        if explain and spent["statements"] == explain_at:
            explained = time.perf_counter()
            plans.append(explain_in_savepoint(context["connection"], sql, params))
            spent["explain"] = time.perf_counter() - explained
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent["insert"] += time.perf_counter() - started

    started = time.perf_counter()
    with connection.execute_wrapper(watch):
        sending_confirm(sending=sending, batches=[BatchPlan(timezone.now())], actor=None)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {"seconds": seconds - spent["explain"], "peak_mb": peak,
             "insert_seconds": spent["insert"], "statements": spent["statements"],
             "explain_chunk": explain_at, "plan": plans[0] if plans else ""}
        )
    )  # fmt: skip


def explain_in_savepoint(conn, sql: str, params) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of a statement on its way to the database, rolled back."""
    with conn.connection.cursor() as cursor:
        cursor.execute("SAVEPOINT bench_explain")
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("ROLLBACK TO SAVEPOINT bench_explain")
    return plan


def in_child(script: Path, *args: str) -> dict:
    completed = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        sys.exit(f"{script.name} {args[0]} failed in the child process:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


# --- Delivery with locmem, in this process ------------------------------------------------------


def locmem_rate(batch_id: int, seconds: float) -> dict:
    """Deliver a started batch with locmem for about `seconds`; recipients a second."""
    from django.core import mail
    from django.test import override_settings

    from batches.delivery import batch_deliver
    from batches.models import Batch

    before = Batch.objects.get(pk=batch_id).sent_count
    with override_settings(MAILERS=LOCMEM):
        mail.outbox = []
        started = time.perf_counter()
        batch_deliver(batch_id=batch_id, budget_seconds=seconds)
        elapsed = time.perf_counter() - started
        mail.outbox.clear()
    delivered = Batch.objects.get(pk=batch_id).sent_count - before
    return {"delivered": delivered, "seconds": elapsed, "rate": delivered / elapsed}


def small_rate(subaccount, contact_list, label: str) -> dict:
    from django.utils import timezone

    from batches.services import batch_start

    _, batch = confirmed_sending(
        subaccount, contact_list, name=f"Bench scale {label}", scheduled_at=timezone.now()
    )
    assert batch_start(batch_id=batch.pk)
    result = locmem_rate(batch.pk, DELIVER_SECONDS)
    locmem_rate(batch.pk, 3600)  # the rest, so that no other batch is sending afterwards
    say(f"  {label}: {result['delivered']:,} in {result['seconds']:.1f} s, "
        f"{result['rate']:,.0f} recipients/s")  # fmt: skip
    return result


# --- The stop -----------------------------------------------------------------------------------


def stop_round(database: str, batch, actor, rng) -> dict:
    from django.conf import settings

    from batches import dispatch, services
    from batches.models import Batch, Recipient, RecipientStatus
    from sendings.services import sending_stop
    from tests.smtp_sink import SmtpSink

    stop_after = rng.randint(*STOP_AFTER)
    batch.refresh_from_db()
    sent_before = batch.sent_count
    with (
        SmtpSink() as sink,
        worker_pool(database=database, email_port=sink.port, count=2),
    ):
        dispatch.delivery_enqueue(batch_id=batch.pk, workers=settings.DELIVERY_PARALLELISM)
        wait_for(lambda: sink.count() >= stop_after, timeout=300, every=0.005, what="messages")
        batch.refresh_from_db()
        pending_at_stop = batch.pending_count
        hooked: list[float] = []

        def announce(batch_id, original=services.halt_announce):
            hooked.append(time.monotonic())
            original(batch_id)

        before = time.monotonic()
        with mock.patch.object(services, "halt_announce", announce):
            sending_stop(sending=batch.sending, actor=actor)
        returned = time.monotonic()
        committed = hooked[0] if hooked else returned

        def final() -> bool:
            fresh = Batch.objects.get(pk=batch.pk)
            return (
                fresh.sent_count - sent_before == sink.count()
                and fresh.sent_count + fresh.failed_count + fresh.canceled_count
                == fresh.recipient_count
                and not Recipient.objects.filter(
                    batch_id=batch.pk, status=RecipientStatus.PENDING
                ).exists()
            )

        wait_for(final, timeout=1800, every=0.1, what="every count to be final")
        settled = time.monotonic()
        time.sleep(1.0)  # a message that would still arrive after the counts settled
        received = sink.snapshot()
    after_commit = sum(1 for item in received if item.at > committed)
    batch.refresh_from_db()
    return {
        "stop_after": stop_after,
        "pending_at_stop": pending_at_stop,
        "call_ms": (returned - before) * 1000,
        "commit_ms": (committed - before) * 1000,
        "after_commit": after_commit,
        "final_s": settled - committed,
        "delivered": len(received),
        "sent_count": batch.sent_count - sent_before,
        "status": batch.status,
    }


# --- EXPLAIN of the per-chunk statements at this size --------------------------------------------

KEY_WORDS = ("Index", "Scan", "Update on", "Insert on", "Limit", "Buffers", "Execution", "Join",
             "LockRows", "Sort", "Rows Removed")  # fmt: skip


def key_lines(plan: str) -> str:
    lines = [line for line in plan.splitlines() if any(word in line for word in KEY_WORDS)]
    return "\n".join("    " + line[:150] for line in lines[:24])


def explain_calls(label: str, call, match) -> None:
    """Run `call` in a transaction rolled back at the end; EXPLAIN ANALYZE each statement it
    sends whose SQL `match`es, just before it runs (in a savepoint)."""
    from django.db import connection, transaction

    plans: list[str] = []

    def wrapper(execute, sql, params, many, context):
        if match(sql):
            plans.append(explain_in_savepoint(context["connection"], sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper), transaction.atomic():
        call()
        transaction.set_rollback(True)
    for number, plan in enumerate(plans, start=1):
        say(f"  {label} ({number} of {len(plans)}):")
        say(key_lines(plan))


def explain_all(batch, sending) -> None:
    from django.utils import timezone

    from batches import dispatch, services
    from batches.models import Recipient, RecipientStatus
    from sendings.recipients.selectors import FILTER_BY_VALUE, recipients_for_export

    say(f"EXPLAIN (ANALYZE, BUFFERS) at {RECIPIENTS:,} recipients (key lines):")
    middle = (
        Recipient.objects.filter(batch=batch, status=RecipientStatus.PENDING)
        .order_by("id")
        .values_list("id", flat=True)[RECIPIENTS // 2 : RECIPIENTS // 2 + 1]
    )
    after_id = next(iter(middle), 0)
    holder: dict = {}

    def claim():
        holder["claims"] = services.recipients_claim(
            batch_id=batch.pk, limit=500, after_id=after_id
        )

    explain_calls("claim of 500 in the middle of the batch", claim, lambda sql: "FOR UPDATE" in sql
                  or sql.startswith("UPDATE"))  # fmt: skip
    claims = services.recipients_claim(batch_id=batch.pk, limit=200, after_id=after_id)
    ids = [claim.id for claim in claims]
    explain_calls(
        "record of 200 sent",
        lambda: services.recipients_record_results(batch_id=batch.pk, sent=ids),
        lambda sql: sql.startswith('UPDATE "batches_recipient"'),
    )
    services.recipients_release(batch_id=batch.pk, ids=ids)
    services.recipients_claim(batch_id=batch.pk, limit=500, after_id=after_id)
    later = timezone.now() + timedelta(hours=1)
    explain_calls(
        "recovery: stale claims",
        lambda: services.recipients_release_stale(now=later),
        lambda sql: '"batches_recipient"' in sql,
    )
    with mock.patch.object(dispatch, "delivery_enqueue", lambda **kwargs: 0):
        explain_calls(
            "recovery: claims out per batch",
            lambda: dispatch.deliveries_recover(),
            lambda sql: "COUNT" in sql and '"batches_recipient"' in sql,
        )
    services.recipients_release_stale(now=later)
    deep = (
        Recipient.objects.filter(sending=sending)
        .order_by("email")
        .values_list("email", flat=True)[RECIPIENTS - 10_000 : RECIPIENTS - 9_999]
    )
    last = next(iter(deep), "")

    def export_chunk():
        next(recipients_for_export(sending=sending, filter=FILTER_BY_VALUE[""]))

    explain_calls(
        "export: the first chunk",
        export_chunk,
        lambda sql: 'FROM "batches_recipient"' in sql and "ORDER BY" in sql,
    )
    from sendings.recipients import selectors

    queryset = (
        Recipient.objects.filter(sending=sending, email__gt=last)
        .order_by("email")
        .values_list(*selectors.EXPORT_FIELDS)[: selectors.EXPORT_CHUNK]
    )
    say(f"  export: a chunk of {selectors.EXPORT_CHUNK:,} near the end (keyset):")
    say(key_lines(queryset.explain(analyze=True, buffers=True)))


# --- The run ------------------------------------------------------------------------------------


def main() -> None:
    global RECIPIENTS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=RECIPIENTS)
    parser.add_argument("--no-explain", action="store_true")
    parser.add_argument("--seed", type=int)
    args = parser.parse_args()
    RECIPIENTS = args.recipients
    os.environ["BENCH_SCALE_RECIPIENTS"] = str(RECIPIENTS)
    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    rng = random.Random(seed)
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")

    with bench_database("scale") as database:
        from django.contrib.auth import get_user_model
        from django.db import connection

        from batches.models import Batch
        from batches.services import batch_start
        from sendings.models import Membership, Sending
        from tests.bench import load
        from tests.bench.bench_confirm import draft_for

        say(f"{RECIPIENTS:,} recipients; delivery windows of {DELIVER_SECONDS:.0f} s; stop "
            f"points drawn with --seed {seed}.")  # fmt: skip
        subaccount = load.load_subaccount()
        big = timed(
            f"load {RECIPIENTS:,} contacts", load.load_contacts, subaccount=subaccount,
            count=RECIPIENTS, list_name=f"Bench {RECIPIENTS:,}",
        )  # fmt: skip
        small = timed(
            f"load {SMALL:,} more contacts", load.load_contacts, subaccount=subaccount,
            count=SMALL, list_name=f"Bench {SMALL:,}",
        )  # fmt: skip
        with connection.cursor() as cursor:
            timed("VACUUM ANALYZE (what autovacuum does after such a load)", cursor.execute,
                  "VACUUM ANALYZE")  # fmt: skip

        say(f"Confirm {RECIPIENTS:,} recipients in a child process ({load_average()})...")
        draft = draft_for(subaccount, big, RECIPIENTS)
        confirm = in_child(
            HERE, "--child", "confirm", str(draft.pk), "0" if args.no_explain else "1"
        )
        sending = Sending.objects.get(pk=draft.pk)
        assert sending.total_recipients == RECIPIENTS, sending.total_recipients
        say(f"  {confirm['seconds']:.1f} s, peak RSS {confirm['peak_mb']:.0f} MB; the INSERT "
            f"chunks {confirm['insert_seconds']:.1f} s ({confirm['statements']}), the rest "
            f"(mostly COMMIT) {confirm['seconds'] - confirm['insert_seconds']:.1f} s")  # fmt: skip
        batch = Batch.objects.get(sending=sending)

        say(f"Delivery with locmem, one process, {DELIVER_SECONDS:.0f} s each ({load_average()}):")
        small_rate(subaccount, small, "warm-up (not counted)")
        rates = [small_rate(subaccount, small, f"{SMALL:,}-recipient batch, before")]
        assert batch_start(batch_id=batch.pk)
        large = locmem_rate(batch.pk, DELIVER_SECONDS)
        say(f"  {RECIPIENTS:,}-recipient batch: {large['delivered']:,} in "
            f"{large['seconds']:.1f} s, {large['rate']:,.0f} recipients/s")  # fmt: skip
        rates.append(small_rate(subaccount, small, f"{SMALL:,}-recipient batch, after"))
        small_mean = sum(r["rate"] for r in rates) / len(rates)
        ratio = large["rate"] / small_mean

        if not args.no_explain:
            explain_all(batch, sending)

        say(f"Stop at a random point, 2 worker processes into an SMTP sink ({load_average()}):")
        stop = stop_round(database, batch, support_user(), rng)
        say(f"  stopped after {stop['delivered']:,} messages of the workers with "
            f"{stop['pending_at_stop']:,} pending: sending_stop {stop['call_ms']:,.0f} ms "
            f"(commit at {stop['commit_ms']:,.0f} ms); {stop['after_commit']} message(s) after "
            f"the commit; every count final {stop['final_s']:.1f} s after the commit; batch "
            f"{stop['status']}, Sent {stop['sent_count']:,}")  # fmt: skip

        say(f"Export of all {RECIPIENTS:,} recipients in a child process ({load_average()})...")
        user = get_user_model().objects.create(username="bench-scale-marketer")
        Membership.objects.create(user=user, subaccount=subaccount)
        export = in_child(HERE.parent / "bench_recipients.py", "--child-export",
                          sending.identifier, user.username)  # fmt: skip
        say(f"  {export['rows']:,} rows, {export['bytes'] / 2**20:,.0f} MiB in "
            f"{export['seconds']:.1f} s ({export['cpu']:.1f} s CPU), peak RSS "
            f"{export['peak_mb']:.0f} MB")  # fmt: skip
        if confirm["plan"]:
            say(f"EXPLAIN (ANALYZE, BUFFERS) of snapshot chunk {confirm['explain_chunk']} "
                "(key lines):")  # fmt: skip
            say(key_lines(confirm["plan"]))

        report(confirm, rates, large, ratio, stop, export)


def report(confirm, rates, large, ratio, stop, export) -> None:
    say()
    say(f"Results at {RECIPIENTS:,} recipients ({load_average()}):")
    say(f"  confirm                 {confirm['seconds']:8.1f} s   {confirm['peak_mb']:6.0f} MB")
    say(
        f"  delivery, 1 process     {large['rate']:8,.0f} /s  at {RECIPIENTS:,}; "
        + ", ".join(f"{r['rate']:,.0f} /s" for r in rates)
        + f" at {SMALL:,}: ratio {ratio:.2f}"
    )
    say(f"  stop                    {stop['call_ms']:8,.0f} ms  with {stop['pending_at_stop']:,} "
        f"pending; {stop['after_commit']} after the commit; final after "
        f"{stop['final_s']:.1f} s")  # fmt: skip
    say(f"  export                  {export['seconds']:8.1f} s   {export['peak_mb']:6.0f} MB")
    ok_confirm = confirm["seconds"] <= TARGET_CONFIRM_S and confirm["peak_mb"] <= TARGET_CONFIRM_MB
    say(f"  Target: confirm <= {TARGET_CONFIRM_S:.0f} s and <= {TARGET_CONFIRM_MB:.0f} MB: "
        f"{verdict(ok_confirm)}")  # fmt: skip
    pending_ok = stop["pending_at_stop"] >= min(TARGET_PENDING_AT_STOP, RECIPIENTS * 0.9)
    say(f"  Target: stop commit <= {TARGET_STOP_MS:.0f} ms with >= 90% pending: "
        f"{verdict(stop['commit_ms'] <= TARGET_STOP_MS and pending_ok)}")  # fmt: skip
    say(f"  Target: 0 messages after the commit: {verdict(stop['after_commit'] == 0)}")
    say(f"  Target: delivery rate within 10% of the {SMALL:,} rate: "
        f"{verdict(ratio >= TARGET_RATE_RATIO)} ({ratio:.2f})")  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_confirm(int(sys.argv[3]), explain=sys.argv[4] == "1")
    else:
        main()
