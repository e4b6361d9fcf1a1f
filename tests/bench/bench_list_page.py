"""Benchmark: server time of the subaccount sending list on 100,000 sendings (300,000 batches).

    DATABASE_URL=postgres://USER@HOST:PORT/NAME .venv/bin/python tests/bench/bench_list_page.py
    make bench BENCH=list_page

It needs PostgreSQL (the production database): it creates a throwaway database
NAME_bench_list_page (or $BENCH_DATABASE) on that server, migrates it, seeds the demo users and
100,000 load sendings of 3 batches with the seed_demo load generator, and drops the database at
the end (--keep keeps it). Each page is requested in-process with django.test.Client (the whole
middleware stack, the view, the queries and the template), REPEAT times after WARMUP requests;
the median is reported beside the Django admin changelist of the same sendings, requested the
same way in the same run. Targets: the first list page in <= 30 ms, and faster than the admin.
--explain prints EXPLAIN ANALYZE of the list page's queries.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.bench_confirm import (  # noqa: E402  (after the sys.path line above)
    POSTGRES_SCHEMES,
    database_create,
    database_drop,
    django_setup,
    machine,
    timed,
)

SENDINGS = 100_000
WARMUP, REPEAT = 5, 50
TARGET_MS = 30.0


def data_load():
    from django.core.management import call_command
    from django.db import connection

    from sendings import demo
    from tests.bench import load

    timed("migrate", call_command, "migrate", verbosity=0)
    timed("demo users and sendings (seed_demo)", demo.demo_seed)
    subaccount = load.load_subaccount()
    statuses = timed(
        f"{SENDINGS:,} sendings of 3 batches (seed_demo load generator)",
        load.load_sendings,
        subaccount=subaccount,
        count=SENDINGS,
    )
    print("    " + ", ".join(f"{n:,} {s}" for s, n in statuses.most_common()))
    with connection.cursor() as cursor:
        # What autovacuum does after such a load: statistics and the visibility map.
        timed("VACUUM ANALYZE", cursor.execute, "VACUUM ANALYZE")
    return subaccount


def measure(client, url: str, cold: bool = False, **headers) -> dict:
    """`cold`: the cache is emptied before each request (no cached rows, no cached session)."""
    from django.core.cache import cache
    from django.db import connection

    for _ in range(WARMUP):
        response = client.get(url, **headers)
        assert response.status_code == 200, (url, response.status_code)
    queries = []  # (CaptureQueriesContext would be emptied by the request_started signal)
    with connection.execute_wrapper(lambda execute, *args: queries.append(1) or execute(*args)):
        client.get(url, **headers)
    times, cpu = [], []
    for _ in range(REPEAT):
        if cold:
            cache.clear()
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get(url, **headers)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        assert response.status_code == 200
    times.sort()
    return {
        "median": statistics.median(times),
        # This process's CPU only (not PostgreSQL's): tells contention from work on a busy box.
        "cpu": statistics.median(cpu),
        "p90": times[int(len(times) * 0.9) - 1],
        "queries": len(queries),
        "bytes": len(response.content),
    }


def explain(client, url: str) -> None:
    from django.db import connection

    def explain_each(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("SELECT") and "sendings_sending" in sql:
            with context["connection"].connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                print(f"\n-- {sql[:160]}...")
                print("\n".join(row[0] for row in cursor.fetchall()))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(explain_each):
        client.get(url)


def pages(subaccount) -> tuple[list, list]:
    from django.urls import reverse

    from sendings.models import Sending

    base = reverse("sending_list", args=[subaccount.pk])
    admin = reverse("admin:sendings_sending_changelist")
    rare = Sending.objects.filter(subaccount=subaccount).order_by("id")[SENDINGS // 2]
    htmx = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "results"}
    ours = [
        ("list, first page", base, {}),
        ("list, first page, cold cache", base, {"cold": True}),
        ("list, status Scheduled", base + "?" + urlencode({"status": "scheduled"}), {}),
        ("list, status Sent, page 20", base + "?" + urlencode({"status": "sent", "page": 20}), {}),
        ("list, oldest first", base + "?" + urlencode({"sort": "scheduled"}), {}),
        ("search, common words", base + "?" + urlencode({"q": "black friday"}), {}),
        ("search, one name", base + "?" + urlencode({"q": rare.name[:18]}), {}),
        ("search, identifier", base + "?" + urlencode({"q": rare.identifier}), {}),
        ("search, identifier prefix", base + "?" + urlencode({"q": rare.identifier[:9]}), {}),
        ("search as you type (htmx)", base + "?" + urlencode({"q": "black friday"}), htmx),
    ]
    same = {"subaccount__id__exact": subaccount.pk}
    theirs = [
        ("admin changelist", admin + "?" + urlencode(same), {}),
        (
            "admin, status Scheduled",
            admin + "?" + urlencode({**same, "status__exact": "scheduled"}),
            {},
        ),
        ("admin, search", admin + "?" + urlencode({**same, "q": "black friday"}), {}),
    ]
    return ours, theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the list page")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    parts = urlsplit(url)
    if parts.scheme not in POSTGRES_SCHEMES:
        sys.exit(
            "bench_list_page measures PostgreSQL, the production database: set DATABASE_URL to "
            f"postgres://USER@HOST:PORT/NAME (got {url or 'nothing'!r})."
        )
    name = os.environ.get("BENCH_DATABASE") or (
        f"{parts.path.lstrip('/') or 'bench'}_bench_list_page"
    )
    database_create(url, name)
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path="/" + name))
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    try:
        django_setup()
        from django.conf import settings

        # Serve static URLs without a collectstatic manifest, as the test suite does.
        settings.STORAGES = {
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
        if "testserver" not in settings.ALLOWED_HOSTS:
            settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
        print(f"bench_list_page: database {name} on {parts.hostname}:{parts.port or 5432}")
        for label, value in machine():
            print(f"  {label:<12} {value}")
        print("Loading data:")
        subaccount = data_load()
        run(subaccount, explain_first=args.explain)
    finally:
        from django.db import connections

        connections.close_all()
        if args.keep:
            print(f"Kept database {name}.")
        else:
            database_drop(url, name)


def run(subaccount, *, explain_first: bool) -> None:
    from django.contrib.auth import get_user_model
    from django.test import Client

    users = get_user_model().objects
    marketer, admin = Client(), Client()
    marketer.force_login(users.get(username="marketer"))
    admin.force_login(users.get(username="admin"))
    ours, theirs = pages(subaccount)
    print(f"\nServer time per request, in-process (median and p90 of {REPEAT}, ms):")
    print(f"  (load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs)")
    results = {}
    for label, page_url, headers in ours:
        results[label] = measure(marketer, page_url, **headers)
    for label, page_url, headers in theirs:
        results[label] = measure(admin, page_url, **headers)
    admin_ms = results["admin changelist"]["median"]
    header = (
        f"  {'page':<28} {'median':>8} {'p90':>8} {'cpu':>7} {'queries':>8} {'KB':>6} "
        f"{'vs admin':>9}"
    )
    print(header)
    for label, r in results.items():
        print(
            f"  {label:<28} {r['median']:8.1f} {r['p90']:8.1f} {r['cpu']:7.1f} {r['queries']:8d} "
            f"{r['bytes'] / 1024:6.0f} {r['median'] / admin_ms:8.2f}x"
        )
    first = results["list, first page"]["median"]
    ok = first <= TARGET_MS and first < admin_ms
    print(
        f"\nTarget: the first list page in <= {TARGET_MS:.0f} ms and faster than the admin "
        f"changelist of the same sendings: {'PASS' if ok else 'FAIL'} "
        f"({first:.1f} ms; admin {admin_ms:.1f} ms; ratio {first / admin_ms:.2f})"
    )
    if explain_first:
        explain(marketer, ours[0][1])
        explain(marketer, ours[5][1])


if __name__ == "__main__":
    main()
