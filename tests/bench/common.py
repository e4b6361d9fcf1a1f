"""What the dispatcher benchmarks share: a throwaway database, the machine, sendings, workers.

The database helpers and the machine description come from bench_confirm; this module adds
what bench_dispatch, bench_stop and bench_lateness need on top: a context manager that
creates, migrates and always drops the bench database, the sending content, real Celery
worker processes pointed at an SMTP sink, and the figures' formatting.
"""

import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.bench.bench_confirm import (  # noqa: E402  (after the sys.path line above)
    POSTGRES_SCHEMES,
    database_create,
    database_drop,
    django_setup,
    machine,
    timed,
)

__all__ = ["timed"]

# The sending every dispatcher benchmark delivers: personalized subject, text and HTML, a
# non-ASCII sender name, about 1.5 KB on the wire, like a short real newsletter.
SUBJECT = "Spring offers for {{ name }}"
FROM_NAME = "Acme Márketing"
FROM_EMAIL = "news@acme.example"
TEXT = (
    "Hello {{ name }},\n\n"
    "Our spring sale starts today: 20% off everything in the shop until Sunday.\n"
    "Your personal code is SPRING-2026. It works online and in every store.\n\n"
    "See you soon,\nthe Acme team\n\n"
    "You receive this message at {{ email }} because you subscribed to our newsletter.\n"
)
HTML = (
    "<!doctype html><html><body>"
    "<h1>Hello {{ name }}</h1>"
    "<p>Our <strong>spring sale</strong> starts today: 20% off everything in the shop "
    "until Sunday.</p>"
    "<p>Your personal code is <code>SPRING-2026</code>. It works online and in every "
    "store.</p>"
    '<p><a href="https://acme.example/spring?utm_source=newsletter">See the offers</a></p>'
    "<p>See you soon,<br>the Acme team</p>"
    '<p style="font-size:small">You receive this message at {{ email }} because you '
    "subscribed to our newsletter.</p>"
    "</body></html>"
)


def say(line: str = "") -> None:
    print(line, flush=True)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root: int) -> float:
    """CPU of `root` and every descendant, alive or reaped (a reaped child's time is in its
    parent's cutime/cstime): what a postmaster and its backends, or gunicorn, have used."""
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        pid = int(entry.name)
        stats[pid] = fields
        children.setdefault(int(fields[1]), []).append(pid)
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        fields = stats.get(pid)
        if fields is None:
            continue
        utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
        total += utime + stime + cutime + cstime
        stack.extend(children.get(pid, []))
    return total / CLOCK_TICKS


def postmaster_pid() -> int | None:
    """The test cluster's postmaster (scripts/with-test-services says where its data is)."""
    data = os.environ.get("TEST_PGDATA")
    try:
        return int((Path(data) / "postmaster.pid").read_text().split()[0]) if data else None
    except (OSError, ValueError, IndexError):
        return None


def load_average() -> str:
    one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    return f"load average {one}, {five}, {fifteen} (1, 5, 15 min) on {os.cpu_count()} CPUs"


@contextlib.contextmanager
def bench_database(bench: str):
    """Create NAME_bench_<bench> on DATABASE_URL's server, set Django up on it, migrate it,
    print the machine; drop the database on the way out, whatever happened."""
    url = os.environ.get("DATABASE_URL", "")
    parts = urlsplit(url)
    if parts.scheme not in POSTGRES_SCHEMES:
        sys.exit(
            f"bench_{bench} measures PostgreSQL, the production database: set DATABASE_URL to "
            f"postgres://USER@HOST:PORT/NAME (got {url or 'nothing'!r}); `make bench "
            f"BENCH={bench}` starts a throwaway one."
        )
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if not broker.startswith("redis") or not os.environ.get("REDIS_URL"):
        sys.exit(
            f"bench_{bench} needs Redis as the Celery broker (CELERY_BROKER_URL) and the cache "
            "(REDIS_URL), as in production; `make bench` starts a throwaway one."
        )
    name = os.environ.get("BENCH_DATABASE") or f"{parts.path.lstrip('/') or 'bench'}_bench_{bench}"
    database_create(url, name)
    bench_url = urlunsplit(parts._replace(path="/" + name))
    os.environ["DATABASE_URL"] = bench_url
    # `make` exports DEBUG=true for `make run`; a benchmark measures production settings
    # (with DEBUG on, Django also keeps every query it runs).
    os.environ["DEBUG"] = "false"
    try:
        django_setup()
        from django.core.management import call_command

        say(f"bench_{bench}: database {name} on {parts.hostname}:{parts.port or 5432}")
        for label, value in machine():
            say(f"  {label:<12} {value}")
        say(f"  {'load':<12} {load_average()}")
        timed("migrate", call_command, "migrate", verbosity=0)
        yield bench_url
    finally:
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        database_drop(url, name)
        say(f"Dropped database {name}.")


def support_user():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from sendings.demo import SUPPORT_GROUP

    user, _ = get_user_model().objects.get_or_create(
        username="bench-support", defaults={"is_staff": True}
    )
    user.groups.add(Group.objects.get_or_create(name=SUPPORT_GROUP)[0])
    return user


def confirmed_sending(subaccount, contact_list, *, name: str, scheduled_at: datetime):
    """A sending of the bench content to `contact_list`, confirmed as one batch at
    `scheduled_at` through the product's service; returns (sending, batch)."""
    from batches.models import Batch
    from sendings.models import Sending
    from sendings.services import BatchPlan, sending_confirm

    sending = Sending.objects.create(
        subaccount=subaccount,
        name=name,
        subject=SUBJECT,
        from_name=FROM_NAME,
        from_email=FROM_EMAIL,
        html_body=HTML,
        text_body=TEXT,
    )
    sending.lists.set([contact_list])
    sending = sending_confirm(sending=sending, batches=[BatchPlan(scheduled_at)], actor=None)
    return sending, Batch.objects.get(sending=sending)


@contextlib.contextmanager
def worker_pool(*, database: str, email_port: int | None, count: int, **overrides):
    """`count` real `celery worker --pool=solo` processes (the first with an embedded beat),
    pointed at `database` and the sink; stopped on the way out, whatever happened."""
    from tests.workers import WorkerPool, broker_flush

    log_dir = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    pool = WorkerPool(log_dir=log_dir, database=database, email_port=email_port)
    broker_flush()
    failed = True
    try:
        started = time.monotonic()
        pool.start(count, **overrides)
        say(f"  {count} worker process(es) ready in {time.monotonic() - started:.1f} s")
        yield pool
        failed = False
    finally:
        pool.stop_all()
        broker_flush()
        if failed:
            say(f"  worker logs kept in {log_dir}")
        else:
            shutil.rmtree(log_dir, ignore_errors=True)


def wait_for(predicate, *, timeout: float, every: float = 0.05, what: str = ""):
    from tests.workers import wait_for as wait

    return wait(predicate, timeout=timeout, every=every, what=what)


def median_max(values, unit: str = "", digits: int = 0) -> str:
    if not values:
        return "n/a"
    return (
        f"median {statistics.median(values):.{digits}f}{unit}, max {max(values):.{digits}f}{unit}"
    )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"
