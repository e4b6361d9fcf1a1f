"""Benchmark: delivery throughput of the dispatcher against a plain smtplib loop, same run.

    make bench BENCH=dispatch
    DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://.../0 REDIS_URL=redis://.../1 \
        .venv/bin/python tests/bench/bench_dispatch.py [--recipients 50000] [--workers 1,2]

It creates a throwaway database NAME_bench_dispatch on DATABASE_URL's server, loads 50,000
contacts with the seed_demo load generator, and measures, one after the other:

1. the plain loop (the yardstick): a child process sends the same personalized messages
   (subject, text and HTML with the contact's name) over ONE smtplib connection to an aiosmtpd
   sink on loopback, `smtp.sendmail` per message, in two variants:
   A "stdlib": each message built with email.message.EmailMessage as a plain script would,
     timed with the sending; several ms a message here, so it sends the first 10,000
     recipients only (--stdlib-sample);
   B "pre-built bytes": all 50,000 messages templated first with string formatting (not
     timed), then only the sendmail loop: the transport's own speed. Run before and after the
     pipeline runs (the machine is noisy).
2. the pipeline: a sending confirmed through the product's service, started by the beat of
   real `celery worker --pool=solo` processes (1, then 2), delivered to a fresh sink: rate =
   recipients / (batch finished_at - started_at); also the time from the batch's scheduled
   time to the sink's last message. Checks: the sink got each recipient exactly once and
   the batch's sent_count is 50,000 (a FAIL line otherwise).
3. orchestration alone: `batch_deliver` in this process with Django's locmem mail backend.
4. scaling (skip with --no-scale, alone with --scale-only; tests/bench/dispatch_scale.py):
   1, 2, 4 and 8 delivery processes (--processes) into Postfix's smtp-sink, a C sink that is
   not the bottleneck, beside the plain loop B into the same sink; per run recipients/s, the
   ratio to 1 process, CPU, commits and WAL bytes per message, and the load average. When
   smtp-sink is missing it is installed with apt as root, else this part is skipped, saying so.
5. DKIM (skip with --no-dkim): a smaller sending (--dkim-recipients, 2,000) delivered by one
   worker process with DKIM off, then on (the test key in tests/batches/), and in this process
   with locmem, off then on: the difference is what signing costs a message. A sample of the
   signed messages the sink received is verified with dkimpy against the public key.

Targets: the pipeline at least 0.7 of the plain loop per worker (a verdict against each of A
and B; B is the strict one); at least 3,000 recipients a second per worker with locmem.
--breakdown times the delivery loop's parts on a locmem delivery; --profile runs cProfile on one.
The figures are a benchmark's, not a test's: compare the ratios, on a shared machine.
"""

import argparse
import contextlib
import html
import json
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.common import (
    FROM_EMAIL,
    FROM_NAME,
    HTML,
    SUBJECT,
    TEXT,
    bench_database,
    confirmed_sending,
    load_average,
    say,
    timed,
    verdict,
    wait_for,
    worker_pool,
)
from tests.bench.dispatch_scale import scale_report, scale_runs

RECIPIENTS = 50_000
TARGET_RATIO_PER_WORKER = 0.7
TARGET_LOCMEM_PER_SECOND = 3_000
LOCMEM = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
PLAIN_IDENTIFIER = "SND-PLAINLOOP0"
# Building each message with the stdlib's EmailMessage costs several ms here: that loop's rate
# is measured on the first STDLIB_SAMPLE recipients, so the benchmark stays a few minutes long.
STDLIB_SAMPLE = 10_000


# --- The plain loop (a child process: the sink lives in the parent) ---------------------------


def plain_personalize(template: str, name: str, address: str, *, as_html: bool = False) -> str:
    if as_html:
        name, address = html.escape(name), html.escape(address)
    return template.replace("{{ name }}", name).replace("{{ email }}", address)


def plain_message(address: str, name: str, msgid_domain: str) -> bytes:
    """One message, the way a plain script builds it: the stdlib's EmailMessage."""
    import email.policy
    from email.message import EmailMessage
    from email.utils import formataddr, formatdate, make_msgid
    from urllib.parse import quote

    message = EmailMessage()
    message["Subject"] = plain_personalize(SUBJECT, name, address)
    message["From"] = formataddr((FROM_NAME, FROM_EMAIL))
    message["To"] = formataddr((name, address))
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=msgid_domain)
    unsubscribe = quote(f"unsubscribe {PLAIN_IDENTIFIER} {address}")
    message["List-Unsubscribe"] = f"<mailto:{FROM_EMAIL}?subject={unsubscribe}>"
    message["X-Sending-Id"] = PLAIN_IDENTIFIER
    message.set_content(plain_personalize(TEXT, name, address))
    message.add_alternative(plain_personalize(HTML, name, address, as_html=True), subtype="html")
    return message.as_bytes(policy=email.policy.SMTP)


def plain_bytes(address: str, name: str, msgid_domain: str) -> bytes:
    """The same message as plain_message, templated with string formatting (fast): headers
    RFC 2047-encoded in one base64 word where not ASCII, bodies as 8bit UTF-8."""
    from email.charset import Charset
    from email.utils import formataddr, formatdate, make_msgid
    from urllib.parse import quote

    def header(value: str) -> str:
        return value if value.isascii() else Charset("utf-8").header_encode(value)

    boundary = "=_plain_loop_boundary"
    unsubscribe = quote(f"unsubscribe {PLAIN_IDENTIFIER} {address}")
    head = "\r\n".join(
        [
            f"Subject: {header(plain_personalize(SUBJECT, name, address))}",
            f"From: {formataddr((FROM_NAME, FROM_EMAIL), charset='utf-8')}",
            f"To: {formataddr((name, address), charset='utf-8')}",
            f"Date: {formatdate(usegmt=True)}",
            f"Message-ID: {make_msgid(domain=msgid_domain)}",
            f"List-Unsubscribe: <mailto:{FROM_EMAIL}?subject={unsubscribe}>",
            f"X-Sending-Id: {PLAIN_IDENTIFIER}",
            "MIME-Version: 1.0",
            f'Content-Type: multipart/alternative; boundary="{boundary}"',
        ]
    )
    parts = [
        f'--{boundary}\r\nContent-Type: text/{subtype}; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: 8bit\r\n\r\n" + body.replace("\n", "\r\n")
        for subtype, body in (
            ("plain", plain_personalize(TEXT, name, address)),
            ("html", plain_personalize(HTML, name, address, as_html=True)),
        )
    ]
    return (head + "\r\n\r\n" + "\r\n".join(parts) + f"\r\n--{boundary}--\r\n").encode()


def child_plain(port: int, variant: str, people_file: str) -> None:
    import socket

    people = json.loads(Path(people_file).read_text())
    domain = socket.getfqdn()
    build_seconds = 0.0
    prebuilt: list[bytes] = []
    if variant == "prebuilt":
        started = time.perf_counter()
        prebuilt = [plain_bytes(address, name, domain) for address, name in people]
        build_seconds = time.perf_counter() - started
    size = 0
    started = time.perf_counter()
    smtp = smtplib.SMTP("127.0.0.1", port, timeout=10)
    for index, (address, name) in enumerate(people):
        raw = prebuilt[index] if prebuilt else plain_message(address, name, domain)
        size += len(raw)
        smtp.sendmail(FROM_EMAIL, [address], raw)
    smtp.quit()
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "build_seconds": build_seconds, "bytes": size}))


PLAIN_LABELS = {
    "stdlib": "stdlib EmailMessage built per message",
    "prebuilt": "pre-built bytes, sendmail only",
}


def plain_run(variant: str, people: list[tuple[str, str]], scratch: str) -> dict:
    from tests.smtp_sink import SmtpSink

    prebuilt = variant == "prebuilt"
    people_file = str(Path(scratch) / f"people-{len(people)}.json")
    Path(people_file).write_text(json.dumps(people))
    say(f"Plain smtplib loop ({PLAIN_LABELS[variant]}), {len(people):,} messages, "
        "one connection, in a child process...")  # fmt: skip
    with SmtpSink() as sink:
        completed = subprocess.run(
            [sys.executable, __file__, "--child-plain", str(sink.port), "--variant", variant,
             "--people", people_file],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if completed.returncode != 0:
            raise RuntimeError(f"the plain loop failed:\n{completed.stderr[-3000:]}")
        measured = json.loads(completed.stdout.strip().splitlines()[-1])
        time.sleep(0.1)
        received = sink.snapshot()
    rcpts = Counter(item.rcpt for item in received)
    ok = len(received) == len(people) and set(rcpts) == {a.lower() for a, _ in people}
    rate = len(people) / measured["seconds"]
    built = f" (built beforehand in {measured['build_seconds']:.1f} s)" if prebuilt else ""
    say(f"  {measured['seconds']:.1f} s, {rate:,.0f} messages/s, "
        f"{measured['bytes'] / len(people):,.0f} bytes a message{built}")  # fmt: skip
    if not ok:
        say(f"  FAIL: the sink got {len(received):,} messages ({len(rcpts):,} distinct)")
    return {"variant": variant, "count": len(people), "rate": rate, "ok": ok, **measured}


# --- The pipeline --------------------------------------------------------------------------------


def pipeline_run(
    database: str, subaccount, contact_list, workers: int, total: int, **overrides
) -> dict:
    from datetime import timedelta

    from django.utils import timezone

    from batches.models import Batch, Recipient
    from tests.smtp_sink import SmtpSink

    say(f"Pipeline with {workers} worker process(es), {total:,} recipients...")
    with (
        SmtpSink() as sink,
        worker_pool(database=database, email_port=sink.port, count=workers, **overrides) as _pool,
    ):
        confirm_started = timezone.now()
        scheduled_at = confirm_started + timedelta(seconds=3)
        _, batch = confirmed_sending(
            subaccount, contact_list, name=f"Bench dispatch, {workers} workers",
            scheduled_at=scheduled_at,
        )  # fmt: skip
        confirmed = timezone.now()
        say(f"  confirmed in {(confirmed - confirm_started).total_seconds():.1f} s; due in "
            f"{(scheduled_at - confirmed).total_seconds():.1f} s")  # fmt: skip
        deadline = time.monotonic() + 60 + total / 20  # DKIM signing is slow: room for it
        last_report = time.monotonic()
        while True:
            status = Batch.objects.values_list("status", flat=True).get(pk=batch.pk)
            if status in ("sent", "canceled"):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"batch still {status} with {sink.count():,} delivered")
            if time.monotonic() - last_report >= 10:
                last_report = time.monotonic()
                say(f"  ... {sink.count():,} delivered")
            time.sleep(0.2)
        # The batch finishes after its last record, which follows the last message.
        wait_for(lambda: sink.count() >= total, timeout=5, what="the sink to settle")
        time.sleep(0.2)
        received = sink.snapshot()
    batch.refresh_from_db()
    emails = set(Recipient.objects.filter(batch=batch).values_list("email", flat=True))
    rcpts = Counter(item.rcpt for item in received)
    problems = []
    if batch.status != "sent" or batch.sent_count != total:
        problems.append(f"batch {batch.status} with sent_count {batch.sent_count:,}")
    if len(received) != total or len(rcpts) != total or set(rcpts) != {e.lower() for e in emails}:
        problems.append(f"the sink got {len(received):,} messages for {len(rcpts):,} recipients")
    active = (batch.finished_at - batch.started_at).total_seconds()
    first, last = min(item.at for item in received), max(item.at for item in received)
    result = {
        "workers": workers,
        "lateness": (batch.started_at - batch.scheduled_at).total_seconds(),
        "active": active,
        "rate": total / active,
        "sink_span": last - first,
        "to_last": max(item.wall for item in received) - batch.scheduled_at.timestamp(),
        "problems": problems,
        "received": received,
    }
    say(
        f"  started {result['lateness'] * 1000:.0f} ms after its time; sent in {active:.1f} s "
        f"({result['rate']:,.0f}/s); scheduled time to last message {result['to_last']:.1f} s"
    )
    for problem in problems:
        say(f"  FAIL: {problem}")
    return result


# --- Orchestration alone: locmem, in this process -------------------------------------------


@contextlib.contextmanager
def stopwatches():
    """Time the delivery loop's parts (claim, build, send, halt check, record) in place."""
    from unittest import mock

    from batches import delivery

    spent: dict[str, list[float]] = {}

    def timed_call(label, func):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                spent.setdefault(label, [0.0, 0])
                spent[label][0] += time.perf_counter() - started
                spent[label][1] += 1

        return wrapper

    parts = [
        (delivery.batch_services, "recipients_claim", "claim a chunk (recipients_claim)"),
        (delivery, "message_build", "build the message (message_build)"),
        (delivery.PreparedMessage, "as_raw", "  of which MIME bytes (as_raw, in the backend)"),
        (delivery.Mailer, "send", "hand to the backend (Mailer.send, as_raw included)"),
        (delivery.HaltWatch, "announced", "halt check (HaltWatch.announced)"),
        (delivery.RateLimiter, "wait", "rate limiter (RateLimiter.wait)"),
        (delivery.BatchDelivery, "_record", "record results (_record)"),
        (delivery, "_still_sending", "status check after a record (_still_sending)"),
    ]
    with contextlib.ExitStack() as stack:
        for owner, name, label in parts:
            stack.enter_context(
                mock.patch.object(owner, name, timed_call(label, getattr(owner, name)))
            )
        yield spent


def locmem_run(
    subaccount, contact_list, total: int, *, profile: bool = False, breakdown: bool = False
) -> dict:
    from django.core import mail
    from django.test import override_settings
    from django.utils import timezone

    from batches.delivery import Progress, batch_deliver
    from batches.services import batch_start

    say(f"Pipeline in-process with the locmem backend{' under cProfile' if profile else ''}, "
        f"{total:,} recipients...")  # fmt: skip
    _, batch = confirmed_sending(
        subaccount, contact_list, name="Bench dispatch, locmem", scheduled_at=timezone.now()
    )
    with override_settings(MAILERS=LOCMEM):
        mail.outbox = []
        if not batch_start(batch_id=batch.pk):
            raise RuntimeError("batch_start refused the locmem batch")
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        with stopwatches() if breakdown else contextlib.nullcontext() as spent:
            started = time.perf_counter()
            report = batch_deliver(batch_id=batch.pk, budget_seconds=3600)
            seconds = time.perf_counter() - started
        if profiler:
            profiler.disable()
        delivered = len(mail.outbox)
        mail.outbox.clear()
    batch.refresh_from_db()
    problems = []
    if report.progress is not Progress.FINISHED or batch.status != "sent":
        problems.append(f"delivery ended {report.progress.value}, batch {batch.status}")
    if delivered != total or batch.sent_count != total:
        problems.append(f"outbox {delivered:,}, sent_count {batch.sent_count:,}")
    active = (batch.finished_at - batch.started_at).total_seconds()
    say(f"  batch_deliver {seconds:.1f} s ({total / seconds:,.0f}/s); started_at to "
        f"finished_at {active:.1f} s ({total / active:,.0f}/s)")  # fmt: skip
    for problem in problems:
        say(f"  FAIL: {problem}")
    if breakdown:
        say(f"  where the time goes ({total:,} messages, {seconds:.2f} s):")
        for label, (part, calls) in spent.items():
            say(f"    {label:<52} {part:6.2f} s  {part / total * 1e6:6.0f} us a message  "
                f"({calls:,} calls)")  # fmt: skip
        say(f"    {'(locmem also deep-copies each message into its outbox)':<52}")
    if profiler:
        import io
        import pstats

        for order in ("tottime", "cumulative"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(25)
            say(f"\ncProfile of batch_deliver, top 25 by {order}:")
            say("\n".join(out.getvalue().splitlines()[4:]))
    return {"seconds": seconds, "rate": total / seconds, "active": active, "problems": problems}


# --- DKIM on and off ----------------------------------------------------------------------------

DKIM_KEY = Path(__file__).resolve().parents[1] / "batches" / "dkim_test_key.pem"
DKIM_PUBLIC = DKIM_KEY.with_name("dkim_test_key.pub.b64")
DKIM_DOMAIN, DKIM_SELECTOR = "bench.example", "bench"
DKIM_RECIPIENTS = 2_000


def dkim_verify_sample(received, count: int = 50) -> int:
    """How many of the first `count` messages fail dkimpy's verification."""
    import dkim

    record = f"v=DKIM1; k=rsa; p={DKIM_PUBLIC.read_text().strip()}".encode()

    def dns(name, timeout=5):
        return record if name == f"{DKIM_SELECTOR}._domainkey.{DKIM_DOMAIN}.".encode() else None

    return sum(not dkim.verify(item.raw, dnsfunc=dns) for item in received[:count])


def dkim_runs(database: str, subaccount, total: int) -> dict:
    from django.test import override_settings

    from tests.bench import load

    contact_list = load.load_contacts(
        subaccount=subaccount, count=total, list_name=f"Bench DKIM {total:,}"
    )
    env = {
        "DKIM_DOMAIN": DKIM_DOMAIN,
        "DKIM_SELECTOR": DKIM_SELECTOR,
        "DKIM_PRIVATE_KEY": str(DKIM_KEY),
    }
    results = {}
    for label, overrides in (("off", {}), ("on", env)):
        say(f"DKIM {label}:")
        run = pipeline_run(database, subaccount, contact_list, 1, total, **overrides)
        run["unverified"] = dkim_verify_sample(run.pop("received")) if overrides else 0
        with override_settings(
            DKIM_DOMAIN=overrides.get("DKIM_DOMAIN", ""),
            DKIM_SELECTOR=overrides.get("DKIM_SELECTOR", ""),
            DKIM_PRIVATE_KEY=DKIM_KEY.read_text() if overrides else "",
        ):
            run["locmem"] = locmem_run(subaccount, contact_list, total)
        results[label] = run
    return results


def dkim_report(total: int, runs: dict) -> None:
    off, on = runs["off"], runs["on"]
    say()
    say(f"DKIM, {total:,} recipients, 1 worker process and in-process locmem:")
    say(f"  {'':<8}{'worker /s':>12}{'locmem /s':>12}")
    for label, run in runs.items():
        say(f"  {label:<8}{run['rate']:>12,.0f}{run['locmem']['rate']:>12,.0f}")
    worker_ms = (1 / on["rate"] - 1 / off["rate"]) * 1000
    locmem_ms = (1 / on["locmem"]["rate"] - 1 / off["locmem"]["rate"]) * 1000
    say(f"  signing costs {worker_ms:.1f} ms a message through a worker, {locmem_ms:.1f} ms "
        f"in-process (rsa-sha256, 2048-bit key)")  # fmt: skip
    failures = on["unverified"]
    say(f"  dkimpy verified the first 50 signed messages the sink received: "
        f"{verdict(failures == 0)}{f' ({failures} failed)' if failures else ''}")  # fmt: skip
    for run in (off, on):
        for problem in run["problems"] + run["locmem"]["problems"]:
            say(f"  FAIL: {problem}")


# --- Main ----------------------------------------------------------------------------------------


def data_load(total: int):
    from tests.bench import load

    subaccount = load.load_subaccount()
    contact_list = timed(
        f"load {total:,} contacts (seed_demo load generator)",
        load.load_contacts,
        subaccount=subaccount,
        count=total,
        list_name=f"Bench {total:,}",
    )
    people = list(contact_list.contacts.order_by("pk").values_list("email", "name"))
    return subaccount, contact_list, people


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=RECIPIENTS)
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    parser.add_argument(
        "--stdlib-sample",
        type=int,
        default=STDLIB_SAMPLE,
        help="recipients the stdlib-built plain loop sends (0: all of them)",
    )
    parser.add_argument(
        "--breakdown", action="store_true", help="time the parts of a locmem delivery"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile a locmem delivery")
    parser.add_argument("--no-dkim", action="store_true", help="skip the DKIM on/off runs")
    parser.add_argument("--dkim-only", action="store_true", help="only the DKIM on/off runs")
    parser.add_argument("--dkim-recipients", type=int, default=DKIM_RECIPIENTS)
    parser.add_argument("--no-scale", action="store_true", help="skip the smtp-sink scaling")
    parser.add_argument("--scale-only", action="store_true", help="only the smtp-sink scaling")
    parser.add_argument(
        "--processes", default="1,2,4,8", help="delivery process counts for the scaling part"
    )
    parser.add_argument("--child-plain", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--people", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_plain:
        child_plain(args.child_plain, args.variant, args.people)
        return
    total = args.recipients
    worker_counts = [int(n) for n in args.workers.split(",") if n.strip()]
    sample = args.stdlib_sample if 0 < args.stdlib_sample < total else total

    with bench_database("dispatch") as database, tempfile.TemporaryDirectory() as scratch:
        if args.dkim_only:
            from tests.bench import load

            dkim_report(args.dkim_recipients, dkim_runs(database, load.load_subaccount(),
                                                        args.dkim_recipients))  # fmt: skip
            return
        subaccount, contact_list, people = data_load(total)
        people_file = Path(scratch) / "people-scale.json"
        people_file.write_text(json.dumps(people))
        processes = [int(n) for n in args.processes.split(",") if n.strip()]
        if args.scale_only:
            scale = scale_runs(database, subaccount, contact_list, str(people_file), total,
                               processes)  # fmt: skip
            if scale:
                scale_report(scale)
            return
        locmem = locmem_run(subaccount, contact_list, total)
        stdlib = plain_run("stdlib", people[:sample], scratch)
        prebuilt = [plain_run("prebuilt", people, scratch)]
        pipelines = [
            pipeline_run(database, subaccount, contact_list, workers, total)
            for workers in worker_counts
        ]
        prebuilt.append(plain_run("prebuilt", people, scratch))
        if args.breakdown:
            locmem_run(subaccount, contact_list, min(total, 10_000), breakdown=True)
        if args.profile:
            locmem_run(subaccount, contact_list, min(total, 10_000), profile=True)
        for pipeline in pipelines:
            pipeline.pop("received")
        scale = None
        if not args.no_scale:
            scale = scale_runs(database, subaccount, contact_list, str(people_file), total,
                               processes)  # fmt: skip
        dkim = None if args.no_dkim else dkim_runs(database, subaccount, args.dkim_recipients)
        report(total, locmem, stdlib, prebuilt, pipelines)
        if scale:
            scale_report(scale)
        if dkim:
            dkim_report(args.dkim_recipients, dkim)


def report(total, locmem, stdlib, prebuilts, pipelines) -> None:
    prebuilt = statistics.mean(p["rate"] for p in prebuilts)
    plain = stdlib["rate"]
    say()
    say(f"Results, {total:,} recipients ({load_average()} at the end):")
    say(f"  plain loop A, {PLAIN_LABELS['stdlib']}: {plain:,.0f}/s "
        f"({stdlib['count']:,} messages)")  # fmt: skip
    rates = ", ".join(f"{p['rate']:,.0f}/s" for p in prebuilts)
    say(f"  plain loop B, {PLAIN_LABELS['prebuilt']}: {rates} "
        f"(before and after the pipelines; mean {prebuilt:,.0f}/s)")  # fmt: skip
    say()
    header = ("pipeline", "started late", "sending s", "recipients/s", "per worker",
              "x loop A", "x loop B", "sched->last")  # fmt: skip
    say("  " + "  ".join(f"{h:>12}" for h in header))
    for p in pipelines:
        per_worker = p["rate"] / p["workers"]
        row = (
            f"{p['workers']} worker{'s' if p['workers'] > 1 else ''}",
            f"{p['lateness'] * 1000:.0f} ms",
            f"{p['active']:.1f}",
            f"{p['rate']:,.0f}",
            f"{per_worker:,.0f}",
            f"{per_worker / plain:.2f}",
            f"{per_worker / prebuilt:.2f}",
            f"{p['to_last']:.1f} s",
        )
        say("  " + "  ".join(f"{cell:>12}" for cell in row))
    locmem_row = ("locmem, 1", "-", f"{locmem['seconds']:.1f}", f"{locmem['rate']:,.0f}",
                  f"{locmem['rate']:,.0f}", "-", "-", "-")  # fmt: skip
    say("  " + "  ".join(f"{cell:>12}" for cell in locmem_row))
    say("  x loop A/B: recipients/s per worker over that plain loop's; sending s: batch")
    say("  started_at to finished_at; sched->last: scheduled time to the sink's last message.")
    say("  All on one 2-CPU machine: the sink, PostgreSQL, Redis and the workers share it.")
    say()
    for p in pipelines:
        per_worker = p["rate"] / p["workers"]
        fails = "; " + "; ".join(p["problems"]) if p["problems"] else ""
        for name, yardstick in (("B (pre-built bytes)", prebuilt), ("A (stdlib)", plain)):
            ratio = per_worker / yardstick
            ok = ratio >= TARGET_RATIO_PER_WORKER and not p["problems"]
            say(f"Target: >= {TARGET_RATIO_PER_WORKER} of plain loop {name} per worker, "
                f"{p['workers']} worker(s): {verdict(ok)} ({ratio:.2f}{fails})")  # fmt: skip
    ok = locmem["rate"] >= TARGET_LOCMEM_PER_SECOND and not locmem["problems"]
    say(f"Target: locmem >= {TARGET_LOCMEM_PER_SECOND:,} recipients/s per worker: "
        f"{verdict(ok)} ({locmem['rate']:,.0f}/s)")  # fmt: skip
    if any(not p["ok"] for p in [stdlib, *prebuilts]):
        say("FAIL: a plain loop run did not deliver every message exactly once.")


if __name__ == "__main__":
    main()
