"""`make run`'s embedded default: SQLite and no server. Migrate and seed it for real."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

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


def test_embedded_sqlite_migrates_and_seeds_every_scenario(tmp_path):
    assert manage("migrate", "--noinput", var_dir=tmp_path).returncode == 0

    seeded = manage("seed_demo", var_dir=tmp_path)

    assert seeded.returncode == 0, seeded.stderr
    assert "marketer-demo" in seeded.stdout
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        statuses = dict(db.execute("SELECT status, COUNT(*) FROM sendings_sending GROUP BY 1"))
        mode = db.execute("PRAGMA journal_mode").fetchone()[0]
        recipients = db.execute("SELECT COUNT(*) FROM batches_recipient").fetchone()[0]
    assert {"draft", "scheduled", "sent", "canceled"} <= set(statuses)
    assert recipients > 5000
    assert mode == "wal"
