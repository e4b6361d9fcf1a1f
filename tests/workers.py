"""Real Celery worker processes for integration tests and benchmarks.

Each worker is `celery -A config worker --pool=solo` in its own process group (so SIGKILL
takes its embedded beat down with it), pointed at the database the caller uses (pytest's
test database, or a benchmark's) and at an SMTP sink.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def database_url() -> str:
    """The URL of the database this process is connected to (pytest's test_... database)."""
    conf = connection.settings_dict
    user = conf.get("USER") or "postgres"
    password = f":{conf['PASSWORD']}" if conf.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{conf['HOST']}:{conf['PORT']}/{conf['NAME']}"


def broker_flush() -> None:
    """Drop tasks left in the Redis broker by an earlier test (it is a throwaway server)."""
    import redis

    redis.Redis.from_url(os.environ["CELERY_BROKER_URL"]).flushdb()


def wait_for(predicate: Callable[[], object], *, timeout: float, every: float = 0.05, what=""):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout} s waiting for {what or predicate}")
        time.sleep(every)


class Worker:
    def __init__(
        self,
        *,
        name: str,
        log_dir: Path,
        env: dict[str, str],
        beat: bool,
        queues: str = "dispatch,delivery",
    ):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            f"--queues={queues}",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=INFO",
            "-n",
            f"{name}@%h",
        ]
        if beat:
            command.append("-B")
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"worker {self.name} exited early:\n{self.output()[-3000:]}")
        return " ready." in self.output()

    def kill(self) -> None:
        """SIGKILL, the whole process group (the worker and its embedded beat)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


class WorkerPool:
    """Start workers with `start(count, beat=..., **settings_env)`; `stop_all()` at the end."""

    def __init__(self, *, log_dir: Path, database: str, email_port: int | None):
        self.log_dir = log_dir
        self.database = database
        self.email_port = email_port
        self.workers: list[Worker] = []

    def env(self, overrides: dict[str, object]) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.database,
            DEBUG="false",
            SECRET_KEY=env.get("SECRET_KEY", "test-workers-secret-" + "x" * 50),
            LOG_LEVEL="INFO",
            DISPATCH_TICK_SECONDS="0.5",
        )
        if self.email_port is not None:
            env.update(EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(self.email_port), EMAIL_TIMEOUT="10")
        env.update({key: str(value) for key, value in overrides.items()})
        return env

    def start(
        self, count: int = 1, *, beat: bool = True, queues: str = "dispatch,delivery", **overrides
    ) -> list[Worker]:
        """`beat=True` gives the first of these workers an embedded beat; `queues` is what
        they consume (the production topology has a worker of its own on "dispatch")."""
        started = []
        for index in range(count):
            worker = Worker(
                name=f"w{len(self.workers) + 1}",
                log_dir=self.log_dir,
                env=self.env(overrides),
                beat=beat and index == 0,
                queues=queues,
            )
            self.workers.append(worker)
            started.append(worker)
        for worker in started:
            wait_for(worker.ready, timeout=60, every=0.1, what=f"worker {worker.name} to start")
        return started

    def stop_all(self) -> None:
        for worker in self.workers:
            worker.stop()
