"""Stop and start the throwaway PostgreSQL and Redis that `scripts/with-test-services` runs.

The fault tests take a server away while workers deliver, then bring it back on the same port
with the same options. The script exports what that takes (TEST_PG_*, TEST_REDIS_*); without
it these helpers are unavailable and the fault tests skip.
"""

import os
import shlex
import subprocess
import time

import pytest


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.skip(f"{name} is not set: run under scripts/with-test-services")
    return value


def _as_pg(command: list[str]) -> list[str]:
    user = os.environ.get("TEST_PG_AS_USER")
    return ["runuser", "-u", user, "--", *command] if user else command


class Postgres:
    """The test cluster, controlled with pg_ctl (as the postgres user when we are root)."""

    def __init__(self):
        self.bin = _env("TEST_PG_BIN")
        self.data = _env("TEST_PGDATA")
        self.options = _env("TEST_PG_OPTIONS")
        self.log = _env("TEST_PG_LOG")

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            _as_pg([f"{self.bin}/pg_ctl", "-D", self.data, *args]),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            timeout=60,
        )

    def stop(self) -> None:
        """Fast shutdown, as an operator's restart does: every connection is cut."""
        self._pg_ctl("stop", "-m", "fast", "-w")

    def start(self) -> None:
        """Start and wait until it accepts connections."""
        self._pg_ctl("start", "-w", "-l", self.log, "-o", self.options)


class Redis:
    """The test Redis (broker and cache), shut down and started again on its port."""

    def __init__(self):
        self.port = _env("TEST_REDIS_PORT")
        self.pidfile = _env("TEST_REDIS_PIDFILE")
        self.log = _env("TEST_REDIS_LOG")

    def _cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["redis-cli", "-p", self.port, *args], capture_output=True, text=True, timeout=10
        )

    def up(self) -> bool:
        return self._cli("ping").stdout.strip() == "PONG"

    def stop(self) -> None:
        """Shut down without saving: the broker's queues and the cache are gone, as in a
        restart of a Redis without persistence."""
        self._cli("shutdown", "nosave")
        deadline = time.monotonic() + 10
        while self.up():
            if time.monotonic() > deadline:
                raise TimeoutError("Redis did not shut down")
            time.sleep(0.05)

    def start(self) -> None:
        command = (
            f"redis-server --port {self.port} --bind 127.0.0.1 --save '' --appendonly no "
            f"--daemonize yes --pidfile {shlex.quote(self.pidfile)} "
            f"--logfile {shlex.quote(self.log)}"
        )
        subprocess.run(shlex.split(command), check=True, timeout=10, start_new_session=True)
        deadline = time.monotonic() + 10
        while not self.up():
            if time.monotonic() > deadline:
                raise TimeoutError("Redis did not start")
            time.sleep(0.05)
