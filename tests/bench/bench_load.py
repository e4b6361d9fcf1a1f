"""Benchmark: the web under load while a 1,000,000-recipient sending is being delivered.

    make bench BENCH=load
    scripts/with-test-services .venv/bin/python tests/bench/bench_load.py [--compare] [--nice 10]

A throwaway database (NAME_bench_load on DATABASE_URL's server, dropped at the end) with
1,000,000 contacts, 1,000 other sendings (tests/bench/load.py) and one sending to all the
contacts, confirmed through `sending_confirm` and delivered by real Celery processes: one with
beat on the "dispatch" queue and 2 on "delivery", into an aiosmtpd sink in a process of its
own. The web is gunicorn with 3 sync workers (production settings, static files collected).

Clients are threads, each with its own signed-in session, doing what an open browser tab on
the sending list does every 2 s: the list page, the in-progress Sending row (the htmx poll)
and the batches dialog (the eye icon). For N = 10, 50 and 100 clients, 60 s each, it prints
requests/s, errors (any answer but 200, or no answer), latency p50/p95/p99, the CPU that
gunicorn and PostgreSQL spent per request, and the delivery rate (Sent count per second, read
from the database) beside the rate with no web load, measured before and after in the same
run. `--compare` runs every level twice, with DATABASE_CONN_MAX_AGE=0 (a new connection per
request) and with the default, so the cost of connecting is visible; `--nice N` adds a run
with gunicorn under `nice -n N`. The delivery processes keep the default settings throughout.

Shorter runs: BENCH_LOAD_SECONDS (60), BENCH_LOAD_CLIENTS ("10,50,100"),
BENCH_LOAD_RECIPIENTS (1,000,000).

Targets (default settings): 0 errors; p99 under 100 ms at 50 clients; delivery at least 0.8
of idle at 50 clients. One file past 400 lines on purpose: a script whose parts (the sink and
gunicorn processes, the clients, the report) nothing else uses.
"""

import argparse
import http.client
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.bench.common import (  # noqa: E402  (after the sys.path line above)
    bench_database,
    confirmed_sending,
    load_average,
    postmaster_pid,
    say,
    timed,
    tree_cpu_seconds,
    verdict,
    wait_for,
    worker_pool,
)

SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", 60))
CLIENTS = [int(n) for n in os.environ.get("BENCH_LOAD_CLIENTS", "10,50,100").split(",") if n]
RECIPIENTS = int(os.environ.get("BENCH_LOAD_RECIPIENTS", 1_000_000))
OTHER_SENDINGS = 1_000
POLL_SECONDS = 2.0
GUNICORN_WORKERS = 3
DELIVERY_PROCESSES = 2
DEFAULT_CONN_MAX_AGE = "600"
TARGET_P99_MS, TARGET_DELIVERY_SHARE, TARGET_AT = 100.0, 0.8, 50
SECRET = "bench-load-secret-" + "k" * 50


# --- The processes: sink, gunicorn ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_sink(port: int) -> None:
    """An SMTP server that accepts every message and keeps none (a million would not fit)."""
    import logging

    from aiosmtpd.controller import Controller

    class Accept:
        async def handle_DATA(self, server, session, envelope):
            return "250 Message accepted"

    logging.getLogger("mail.log").setLevel(logging.WARNING)
    controller = Controller(Accept(), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


class Sink:
    """An aiosmtpd sink in a process of its own, so that the clients' threads here do not
    slow it down (it only accepts: delivery is measured from the database)."""

    def __init__(self):
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--child-sink", str(self.port)],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError("the SMTP sink did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def web_env(database: str, conn_max_age: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database,
        DATABASE_CONN_MAX_AGE=conn_max_age,
        DEBUG="false",
        SECRET_KEY=SECRET,
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        SESSION_COOKIE_SECURE="false",
        LOG_LEVEL="WARNING",
    )
    return env


class Gunicorn:
    def __init__(self, database: str, *, conn_max_age: str, nice: int = 0):
        self.port = free_port()
        self.log = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-load-gunicorn-{self.port}.log"
        command = [
            sys.executable, "-m", "gunicorn", "config.wsgi",
            "--workers", str(GUNICORN_WORKERS), "--bind", f"127.0.0.1:{self.port}",
            "--log-level", "warning", "--error-logfile", str(self.log),
        ]  # fmt: skip
        if nice:
            command = ["nice", "-n", str(nice), *command]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=web_env(database, conn_max_age),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(self.answers, timeout=30, every=0.1, what="gunicorn to answer")

    def answers(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{self.log.read_text()[-3000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            conn.request("GET", "/accounts/login/")
            return conn.getresponse().status == 200
        except OSError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        if not self.log.read_text(errors="replace").strip():
            self.log.unlink()  # kept when gunicorn had something to say


# --- The clients ------------------------------------------------------------------------------


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, seconds: float, error: str | None) -> None:
        with self.lock:
            if error:
                self.errors[error] = self.errors.get(error, 0) + 1
            else:
                self.latencies.append(seconds)


@dataclass
class Page:
    path: str
    headers: dict[str, str]


def browser_pages(subaccount_id: int, identifier: str) -> list[Page]:
    """What an open sending list asks for every 2 s, as htmx asks for it."""
    htmx = {"HX-Request": "true", "HX-Current-URL": f"/subaccounts/{subaccount_id}/sendings/"}
    return [
        Page(f"/subaccounts/{subaccount_id}/sendings/", {}),
        Page(f"/sendings/{identifier}/row/", {**htmx, "HX-Target": f"row-{identifier}"}),
        Page(f"/sendings/{identifier}/batches/", {**htmx, "HX-Target": "batches-dialog-content"}),
    ]


def client_loop(port, cookie, pages, stop_at, tally, first_at) -> None:
    """Every POLL_SECONDS from `first_at`, the pages one after the other (a late round starts
    at once: the browser does not catch up with missed ones)."""
    next_at = first_at
    while True:
        now = time.monotonic()
        if next_at > now:
            time.sleep(next_at - now)
        if time.monotonic() >= stop_at:
            return
        for page in pages:
            started = time.perf_counter()
            error = None
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("GET", page.path, headers={"Cookie": cookie, **page.headers})
                response = conn.getresponse()
                response.read()
                conn.close()
                if response.status != 200:
                    error = f"HTTP {response.status}"
            except OSError as exc:
                error = exc.__class__.__name__
            tally.add(time.perf_counter() - started, error)
        next_at = max(next_at + POLL_SECONDS, time.monotonic() - POLL_SECONDS)


def fetch(port: int, cookie: str, page: Page) -> tuple[int, float]:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", page.path, headers={"Cookie": cookie, **page.headers})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status, time.perf_counter() - started


def page_costs(web: "Gunicorn", cookie: str, pages: list[Page], rounds: int = 30) -> list[dict]:
    """Each page alone, one request at a time: median ms, and the CPU that gunicorn and
    PostgreSQL spent on it (delivery goes on meanwhile: PostgreSQL's share is an upper bound)."""
    postmaster = postmaster_pid()
    costs = []
    for page in pages:
        fetch(web.port, cookie, page)  # warm: templates compiled, connection open
        web_before = tree_cpu_seconds(web.process.pid)
        pg_before = tree_cpu_seconds(postmaster) if postmaster else None
        times, statuses = [], set()
        for _ in range(rounds):
            status, seconds = fetch(web.port, cookie, page)
            statuses.add(status)
            times.append(seconds * 1000)
        web_cpu = (tree_cpu_seconds(web.process.pid) - web_before) / rounds * 1000
        pg_cpu = (tree_cpu_seconds(postmaster) - pg_before) / rounds * 1000 if postmaster else None
        costs.append({"path": page.path, "ms": statistics.median(times), "web_cpu_ms": web_cpu,
                      "pg_cpu_ms": pg_cpu, "statuses": statuses})  # fmt: skip
        pg = "n/a" if pg_cpu is None else f"{pg_cpu:.1f}"
        say(f"  {page_name(page.path)}: median {statistics.median(times):.1f} ms, gunicorn "
            f"CPU {web_cpu:.1f} ms, PostgreSQL CPU {pg} ms a request "
            f"(HTTP {sorted(statuses)})")  # fmt: skip
    return costs


def sessions(user, count: int) -> list[str]:
    """`count` signed-in sessions of `user`, as a login would leave them (one per browser)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    cookies = []
    for _ in range(count):
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        cookies.append(f"sessionid={store.session_key}")
    return cookies


def sent_so_far(batch_id: int) -> int:
    from batches.models import Batch

    return Batch.objects.values_list("sent_count", flat=True).get(pk=batch_id)


def delivery_rate(batch_id: int, seconds: float) -> float:
    """Messages recorded as sent per second over `seconds`, nothing else running here."""
    before, started = sent_so_far(batch_id), time.monotonic()
    time.sleep(seconds)
    return (sent_so_far(batch_id) - before) / (time.monotonic() - started)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def load_level(web: Gunicorn, cookies, pages, clients: int, batch_id: int) -> dict:
    tally = Tally()
    postmaster = postmaster_pid()
    started = time.monotonic()
    stop_at = started + SECONDS
    threads = [
        threading.Thread(
            target=client_loop,
            args=(
                web.port,
                cookies[i],
                pages,
                stop_at,
                tally,
                started + random.uniform(0, POLL_SECONDS),
            ),
            daemon=True,
        )
        for i in range(clients)
    ]
    sent_before = sent_so_far(batch_id)
    pg_before = tree_cpu_seconds(postmaster) if postmaster else None
    web_before = tree_cpu_seconds(web.process.pid)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(SECONDS + 60)
    elapsed = time.monotonic() - started
    sent = sent_so_far(batch_id) - sent_before
    requests = len(tally.latencies) + sum(tally.errors.values())
    web_cpu = tree_cpu_seconds(web.process.pid) - web_before
    pg_cpu = tree_cpu_seconds(postmaster) - pg_before if postmaster else None
    ms = [x * 1000 for x in tally.latencies]
    return {
        "clients": clients,
        "requests": requests,
        "rps": requests / elapsed,
        "errors": sum(tally.errors.values()),
        "error_kinds": tally.errors,
        "p50": percentile(ms, 0.50),
        "p95": percentile(ms, 0.95),
        "p99": percentile(ms, 0.99),
        "delivery": sent / elapsed,
        "web_cpu_ms": web_cpu / max(requests, 1) * 1000,
        # PostgreSQL also serves the delivery processes: its CPU per request is an upper bound.
        "pg_cpu_ms": None if pg_cpu is None else pg_cpu / max(requests, 1) * 1000,
        "load": load_average(),
    }


# --- Main -----------------------------------------------------------------------------------


def data_load(subaccount_recipients: int):
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from sendings.models import Membership
    from tests.bench import load

    subaccount = load.load_subaccount()
    contact_list = timed(
        f"load {subaccount_recipients:,} contacts",
        load.load_contacts,
        subaccount=subaccount,
        count=subaccount_recipients,
        list_name="Bench load",
    )
    timed(f"load {OTHER_SENDINGS:,} other sendings", load.load_sendings,
          subaccount=subaccount, count=OTHER_SENDINGS)  # fmt: skip
    user = get_user_model().objects.create_user("bench-marketer", password=None)
    Membership.objects.create(user=user, subaccount=subaccount, is_home=True)
    sending, batch = timed(
        f"confirm the {subaccount_recipients:,}-recipient sending",
        confirmed_sending,
        subaccount,
        contact_list,
        name="Bench load, in progress",
        scheduled_at=timezone.now() + timedelta(seconds=5),
    )
    return subaccount, user, sending, batch


def collect_static(database: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT, env=web_env(database, "0"), check=True,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--compare", action="store_true", help="also run with DATABASE_CONN_MAX_AGE=0, first"
    )
    parser.add_argument("--nice", type=int, default=0, help="also run gunicorn under nice -n N")
    parser.add_argument("--child-sink", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_sink:
        child_sink(args.child_sink)
        return
    runs = [("default (600 s, health checks)", DEFAULT_CONN_MAX_AGE, 0)]
    if args.compare:
        runs.insert(0, ("DATABASE_CONN_MAX_AGE=0", "0", 0))
    if args.nice:
        runs.append((f"default, gunicorn under nice -n {args.nice}", DEFAULT_CONN_MAX_AGE,
                     args.nice))  # fmt: skip
    os.environ["SECRET_KEY"] = SECRET  # the sessions made here must be valid in gunicorn

    with bench_database("load") as database:
        from batches.models import Batch

        subaccount, user, sending, batch = data_load(RECIPIENTS)
        timed("collectstatic", collect_static, database)
        cookies = sessions(user, max(CLIENTS))
        pages = browser_pages(subaccount.pk, sending.identifier)
        sink = Sink()
        results: dict[str, list[dict]] = {}
        singles: dict[str, list[dict]] = {}
        idle: list[float] = []
        try:
            with worker_pool(database=database, email_port=sink.port, count=1,
                             queues="dispatch") as pool:  # fmt: skip
                pool.start(DELIVERY_PROCESSES, beat=False, queues="delivery")
                wait_for(lambda: sent_so_far(batch.pk) > min(5_000, RECIPIENTS // 10), timeout=120,
                         every=0.5, what="delivery to be under way")  # fmt: skip
                say(f"Idle delivery (no web load), {SECONDS:.0f} s...")
                idle.append(delivery_rate(batch.pk, SECONDS))
                say(f"  {idle[-1]:,.0f} messages/s; {load_average()}")
                for label, conn_max_age, nice in runs:
                    web = Gunicorn(database, conn_max_age=conn_max_age, nice=nice)
                    try:
                        say(f"{label}: each page alone, 30 requests one at a time...")
                        singles[label] = page_costs(web, cookies[0], pages)
                        results[label] = []
                        for clients in CLIENTS:
                            say(f"{label}: {clients} clients, {SECONDS:.0f} s...")
                            level = load_level(web, cookies, pages, clients, batch.pk)
                            results[label].append(level)
                            say(f"  {level['rps']:.1f} requests/s, {level['errors']} errors, "
                                f"p50/p95/p99 {level['p50']:.0f}/{level['p95']:.0f}/"
                                f"{level['p99']:.0f} ms, delivery {level['delivery']:,.0f}/s; "
                                f"{level['load']}")  # fmt: skip
                    finally:
                        web.stop()
                say(f"Idle delivery again, {SECONDS:.0f} s...")
                idle.append(delivery_rate(batch.pk, SECONDS))
                say(f"  {idle[-1]:,.0f} messages/s; {load_average()}")
                status = Batch.objects.values_list("status", flat=True).get(pk=batch.pk)
        finally:
            sink.stop()
        report(results, singles, idle, status)


def page_name(path: str) -> str:
    return {"row": "row", "batches": "batches dialog"}.get(path.rstrip("/").split("/")[-1], "list")


def report(results, singles, idle: list[float], status: str) -> None:
    base = statistics.mean(idle)
    say()
    say("Each page alone (median ms; CPU ms a request in gunicorn and in PostgreSQL):")
    for label, costs in singles.items():
        cells = "; ".join(
            f"{page_name(c['path'])} {c['ms']:.0f} ms, {c['web_cpu_ms']:.1f} + "
            + ("n/a" if c["pg_cpu_ms"] is None else f"{c['pg_cpu_ms']:.1f}")
            for c in costs
        )
        say(f"  {label}: {cells}")
    say()
    say(f"Results: gunicorn {GUNICORN_WORKERS} sync workers, {DELIVERY_PROCESSES} delivery "
        f"processes, a {RECIPIENTS:,}-recipient sending ({status} at the end), clients polling "
        f"3 pages every {POLL_SECONDS:.0f} s for {SECONDS:.0f} s a level")  # fmt: skip
    say(f"Idle delivery: {', '.join(f'{r:,.0f}' for r in idle)} messages/s (before, after; "
        f"mean {base:,.0f})")  # fmt: skip
    header = ("clients", "req/s", "errors", "p50 ms", "p95 ms", "p99 ms", "web CPU ms/req",
              "PG CPU ms/req", "delivery/s", "x idle")  # fmt: skip
    for label, levels in results.items():
        say()
        say(f"  {label}")
        say("  " + "".join(f"{h:>15}" for h in header))
        for lv in levels:
            pg = "n/a" if lv["pg_cpu_ms"] is None else f"{lv['pg_cpu_ms']:.1f}"
            row = (lv["clients"], f"{lv['rps']:.1f}", lv["errors"], f"{lv['p50']:.0f}",
                   f"{lv['p95']:.0f}", f"{lv['p99']:.0f}", f"{lv['web_cpu_ms']:.1f}", pg,
                   f"{lv['delivery']:,.0f}", f"{lv['delivery'] / base:.2f}")  # fmt: skip
            say("  " + "".join(f"{cell!s:>15}" for cell in row))
            if lv["error_kinds"]:
                say(f"    errors: {lv['error_kinds']}")
    say("  PG CPU includes what PostgreSQL spent for the delivery processes in the same time.")
    say(f"  At the end: {load_average()}")
    default = next(iter(v for k, v in results.items() if k.startswith("default")), [])
    at = next((lv for lv in default if lv["clients"] == TARGET_AT), None)
    say()
    errors = sum(lv["errors"] for lv in default)
    say(f"Target: 0 errors (default settings): {verdict(errors == 0)} ({errors})")
    if at is None:
        say(f"Targets at {TARGET_AT} clients: not measured (BENCH_LOAD_CLIENTS)")
        return
    say(f"Target: p99 under {TARGET_P99_MS:.0f} ms at {TARGET_AT} clients: "
        f"{verdict(at['p99'] < TARGET_P99_MS)} ({at['p99']:.0f} ms)")  # fmt: skip
    share = at["delivery"] / base
    say(f"Target: delivery at least {TARGET_DELIVERY_SHARE} of idle at {TARGET_AT} clients: "
        f"{verdict(share >= TARGET_DELIVERY_SHARE)} ({share:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
