"""Benchmark: the recipients of a 1,000,000-recipient sending, seen, exported and resent.

    make bench BENCH=recipients

A throwaway database (NAME_bench_recipients on DATABASE_URL's server, dropped at the end):
1,000,000 contacts (tests/bench/load.py), a sending to all of them confirmed through
`sending_confirm`, started, then stopped with 60% sent, 2% failed and the rest canceled.
Measured, in-process through the whole middleware stack (django.test.Client):

- the detail page's Recipients section (the htmx fragment) at page 1 and page 20,000 (keyset:
  the link "Next" carries the last email), and of the Sent filter at page 10,000, median of 30;
- the whole detail page at page 1;
- the CSV export of all 1,000,000 rows, in a fresh child process so its peak RSS is the
  export's own;
- the resend: creating the draft, counting its fixed audience (the wizard's Contacts step) and
  confirming it (the INSERT ... SELECT of its 400,000 recipients).

Targets: pages under 50 ms at any depth; the export under 20 s in under 100 MB.
"""

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.bench.common import bench_database, django_setup, say, timed, verdict  # noqa: E402

CONTACTS = int(os.environ.get("BENCH_CONTACTS", 1_000_000))  # smaller for a quick look
SENT_PERCENT, FAILED_PERCENT = 60, 2
ROUNDS = 30
PAGE_TARGET_MS, EXPORT_TARGET_S, EXPORT_TARGET_MB = 50.0, 20.0, 100.0
PAGE = 50
DEEP = min(20_000, CONTACTS // PAGE)  # page 20,000 of 1,000,000
SENT_DEEP = min(10_000, CONTACTS * SENT_PERCENT // 100 // PAGE)


def child_export(identifier: str, username: str) -> None:
    """In a fresh process: stream the whole export, count rows and bytes, report peak RSS."""
    django_setup()
    static_without_manifest()
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    url = reverse("recipients_export", args=[identifier])
    started, cpu_started = time.perf_counter(), time.process_time()
    response = client.get(url)
    rows = size = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        rows += chunk.count(b"\n")
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu": time.process_time() - cpu_started,
                "rows": rows - 1,
                "bytes": size,
                "peak_mb": usage.ru_maxrss / 1024,
            }
        )
    )


def export_in_child(identifier: str, username: str) -> dict:
    completed = subprocess.run(
        [sys.executable, __file__, "--child-export", identifier, username],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        sys.exit(f"export failed in the child process:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def median_ms(client, url: str, *, fragment: bool) -> tuple[float, float, int, float]:
    """Median server time of `url` over ROUNDS requests (wall clock, and CPU time of this
    process, which another process's load on the machine hardly changes), the queries of one
    request and their time."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    headers = {"HX-Request": "true", "HX-Target": "recipients"} if fragment else {}
    times, cpu_times = [], []
    for _ in range(ROUNDS):
        started, cpu_started = time.perf_counter(), time.process_time()
        response = client.get(url, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        cpu_times.append((time.process_time() - cpu_started) * 1000)
        assert response.status_code == 200, response.status_code
    with CaptureQueriesContext(connection) as queries:
        client.get(url, headers=headers)
    sql_ms = sum(float(query["time"]) for query in queries.captured_queries) * 1000
    return statistics.median(times), statistics.median(cpu_times), len(queries), sql_ms


def email_at(sending, position: int, status: str | None = None) -> str:
    """The email ending the page before the one wanted (what its "Next" link carries)."""
    from batches.models import Recipient

    recipients = Recipient.objects.filter(sending=sending)
    if status:
        recipients = recipients.filter(status=status)
    return recipients.order_by("email").values_list("email", flat=True)[position - 1]


def static_without_manifest() -> None:
    """Serve static URLs without a collectstatic manifest, as the test suite does."""
    from django.conf import settings

    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def main() -> None:
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")  # django.test.Client's host
    with bench_database("recipients"):
        static_without_manifest()
        from urllib.parse import quote

        from django.contrib.auth import get_user_model
        from django.test import Client
        from django.urls import reverse

        from sendings import followups
        from sendings.models import Membership, Sending
        from sendings.services import BatchPlan, sending_confirm
        from sendings.wizard.selectors import fixed_audience_count
        from tests.bench import load

        subaccount = load.load_subaccount()
        contact_list = timed(
            f"load {CONTACTS:,} contacts", load.load_contacts, subaccount=subaccount, count=CONTACTS
        )
        sending = timed(
            f"confirm and stop a sending to them ({SENT_PERCENT}% sent, {FAILED_PERCENT}% "
            "failed, the rest canceled)",
            load.load_stopped_sending,
            subaccount=subaccount,
            contact_list=contact_list,
            sent_percent=SENT_PERCENT,
            failed_percent=FAILED_PERCENT,
        )
        user = get_user_model().objects.create(username="bench-marketer")
        Membership.objects.create(user=user, subaccount=subaccount)
        client = Client()
        client.force_login(user)
        detail = reverse("sending_detail", args=[sending.identifier])
        deep = email_at(sending, (DEEP - 1) * PAGE)
        sent_deep = email_at(sending, (SENT_DEEP - 1) * PAGE, status="sent")
        say(
            f"Sending {sending.identifier}: {sending.total_recipients:,} recipients, "
            f"{sending.sent_count:,} sent, {sending.failed_count:,} failed, "
            f"{sending.canceled_count:,} canceled"
        )

        pages = [
            ("recipients, page 1", detail, True),
            (f"recipients, page {DEEP:,}", f"{detail}?after={quote(deep)}", True),
            ("Sent, page 1", f"{detail}?status=sent", True),
            (f"Sent, page {SENT_DEEP:,}", f"{detail}?status=sent&after={quote(sent_deep)}", True),
            ("Failed, page 1", f"{detail}?status=failed", True),
            ('search "garcia12"', f"{detail}?q=garcia12", True),
            ("whole detail page, page 1", detail, False),
        ]
        say()
        say(f"(load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs)")
        say(
            f"| page | median ms ({ROUNDS} requests) | median CPU ms (web process) | queries "
            "| their SQL ms (one request) |"
        )
        say("|---|---:|---:|---:|---:|")
        worst = 0.0
        for label, url, fragment in pages:
            ms, cpu_ms, queries, sql_ms = median_ms(client, url, fragment=fragment)
            if fragment and not label.startswith("search"):
                worst = max(worst, ms)
            say(f"| {label} | {ms:.1f} | {cpu_ms:.1f} | {queries} | {sql_ms:.1f} |")
        from batches.models import Recipient

        plan = (
            Recipient.objects.filter(sending=sending, email__gt=deep)
            .order_by("email")
            .values("id", "email")[:51]
            .explain(analyze=True)
        )
        say("EXPLAIN ANALYZE of the deep page's query:\n  " + plan.replace("\n", "\n  "))
        say(f"Pages (search aside) under {PAGE_TARGET_MS:.0f} ms at any depth: "
            f"{verdict(worst <= PAGE_TARGET_MS)} (worst median {worst:.1f} ms)")  # fmt: skip

        say()
        say(f"(load average before the export: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs)")
        export = export_in_child(sending.identifier, user.username)
        assert export["rows"] == sending.total_recipients, export
        say(
            f"Export of {export['rows']:,} rows ({export['bytes'] / 2**20:.0f} MiB of CSV): "
            f"{export['seconds']:.1f} s ({export['cpu']:.1f} s of CPU in the web process), "
            f"peak RSS {export['peak_mb']:.0f} MB "
            f"({export['rows'] / export['seconds']:,.0f} rows/s). Target under "
            f"{EXPORT_TARGET_S:.0f} s and {EXPORT_TARGET_MB:.0f} MB: "
            + verdict(
                export["seconds"] <= EXPORT_TARGET_S and export["peak_mb"] <= EXPORT_TARGET_MB
            )
        )

        say()
        started = time.perf_counter()
        draft = followups.sending_resend_create(sending=sending, actor=user).obj
        created = time.perf_counter() - started
        started = time.perf_counter()
        audience = fixed_audience_count(sending=draft)
        counted = time.perf_counter() - started
        from django.utils import timezone

        started = time.perf_counter()
        draft = Sending.objects.get(pk=draft.pk)
        resent = sending_confirm(
            sending=draft,
            batches=[BatchPlan(timezone.now() + timedelta(days=1))],
            actor=user,
        )
        confirmed = time.perf_counter() - started
        expected = sending.total_recipients - sending.sent_count
        assert audience == resent.total_recipients == expected, (audience, resent, expected)
        say(
            f"Resend: draft created in {created * 1000:.0f} ms; its fixed audience of "
            f"{audience:,} counted in {counted:.2f} s (wizard step 5); confirmed (snapshot of "
            f"{resent.total_recipients:,} recipients) in {confirmed:.1f} s "
            f"({resent.total_recipients / confirmed:,.0f} recipients/s)."
        )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child-export":
        child_export(sys.argv[2], sys.argv[3])
    else:
        main()
