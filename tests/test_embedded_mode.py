"""`make run`'s embedded default: SQLite and no server. Migrate and seed it for real."""

import contextlib
import http.cookiejar
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.workers import wait_for

ROOT = Path(__file__).resolve().parent.parent


def manage(*args, var_dir: Path) -> subprocess.CompletedProcess:
    environ = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "EMAIL_HOST"}
    }
    environ.update(DEBUG="true", VAR_DIR=str(var_dir))
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def migrated(tmp_path_factory) -> Path:
    """A var/ folder migrated once for the module; each test works on a copy of it."""
    var_dir = tmp_path_factory.mktemp("migrated")
    migrate = manage("migrate", "--noinput", var_dir=var_dir)
    assert migrate.returncode == 0, migrate.stderr
    return var_dir


@pytest.fixture(scope="module")
def seeded(migrated, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """A copy of `migrated` with the demo data, seeded once for the tests that only read it."""
    var_dir = tmp_path_factory.mktemp("seeded")
    shutil.copytree(migrated, var_dir, dirs_exist_ok=True)
    return var_dir, manage("seed_demo", var_dir=var_dir)


def test_embedded_sqlite_migrates_and_seeds_every_scenario(seeded):
    var_dir, seeded = seeded

    assert seeded.returncode == 0, seeded.stderr
    assert "marketer-demo" in seeded.stdout
    with sqlite3.connect(var_dir / "db.sqlite3") as db:
        statuses = dict(db.execute("SELECT status, COUNT(*) FROM sendings_sending GROUP BY 1"))
        mode = db.execute("PRAGMA journal_mode").fetchone()[0]
        recipients = db.execute("SELECT COUNT(*) FROM batches_recipient").fetchone()[0]
    assert {"draft", "scheduled", "sent", "canceled"} <= set(statuses)
    assert recipients > 5000
    assert mode == "wal"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_embedded_server_serves_login_and_the_admin_shows_the_demo_data(seeded):
    var_dir, seed = seeded
    assert seed.returncode == 0, seed.stderr
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    environ.update(DEBUG="true", VAR_DIR=str(var_dir))
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )

    def login_page_once_up():
        try:
            return opener.open(f"{base}/accounts/login/", timeout=2)
        except OSError:  # not listening yet
            return None

    try:
        login_page = wait_for(
            login_page_once_up, timeout=30, every=0.2, what="the embedded server to answer"
        )
        assert login_page.status == 200
        assert "Log in" in login_page.read().decode()

        form = opener.open(f"{base}/admin/login/", timeout=5).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
        body = urllib.parse.urlencode(
            {
                "csrfmiddlewaretoken": token,
                "username": "admin",
                "password": "admin-demo",
                "next": "/admin/sendings/sending/",
            }
        ).encode()
        request = urllib.request.Request(
            f"{base}/admin/login/?next=/admin/sendings/sending/",
            data=body,
            headers={"Referer": f"{base}/admin/login/"},
        )
        changelist = opener.open(request, timeout=10).read().decode()
        for name in ("Spring sale", "Monthly newsletter", "Welcome series", "Black Friday teaser"):
            assert name in changelist
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_embedded_worker_delivers_a_due_sending_into_the_mail_folder(migrated, tmp_path):
    """`make run`'s worker: SQLite, the filesystem broker, beat inside, email to var/mail."""
    shutil.copytree(migrated, tmp_path, dirs_exist_ok=True)
    script = (
        "from datetime import timedelta; from django.utils import timezone; "
        "from tests.factories import SubaccountFactory, scheduled_sending; "
        "s = scheduled_sending(SubaccountFactory(), contacts=30, sizes=[10, 20], "
        "first_at=timezone.now() + timedelta(seconds=3), every=timedelta(seconds=2)); "
        "print(s.identifier)"
    )
    created = manage("shell", "-c", script, var_dir=tmp_path)
    assert created.returncode == 0, created.stderr
    environ = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "EMAIL_HOST"}
    }
    environ.update(DEBUG="true", VAR_DIR=str(tmp_path))
    log = (tmp_path / "worker.log").open("wb")
    command = "celery -A config worker -B -Q dispatch,delivery --pool=solo --loglevel=INFO"
    worker = subprocess.Popen(
        [sys.executable, "-m", *command.split()],
        cwd=ROOT,
        env=environ,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def the_sending():
        with contextlib.closing(sqlite3.connect(tmp_path / "db.sqlite3")) as db:
            return db.execute("SELECT status, sent_count FROM sendings_sending").fetchone()

    try:
        with contextlib.suppress(TimeoutError):  # the worker's log says why, below
            wait_for(lambda: the_sending()[0] == "sent", timeout=60, every=0.5, what="sent")
        status, sent = the_sending()
    finally:
        worker.terminate()
        worker.wait(20)
        log.close()
    output = (tmp_path / "worker.log").read_text(errors="replace")
    assert status == "sent", output[-3000:]
    assert sent == 30
    mail = "".join(path.read_text() for path in (tmp_path / "mail").iterdir())
    recipients = re.findall(r"^To: .*<(.+)>$", mail, flags=re.MULTILINE)
    assert len(recipients) == len(set(recipients)) == 30
    assert "Unrecoverable error" not in output
