"""Postfix's `smtp-sink`: an SMTP server in C that accepts everything, many sessions at once,
and costs little CPU, so a benchmark's sink is not what limits delivery.

    with FastSink() as sink:        # FastSinkMissing if it cannot be found or installed
        ...                         # point EMAIL_HOST/EMAIL_PORT at 127.0.0.1:sink.port
        sink.count()                # messages accepted so far

Only the `smtp-sink` binary of Debian's `postfix` package is used. When it is missing and we
run as root with apt-get, it is installed the way scripts/with-test-services installs Redis,
with the postfix daemon left unconfigured ("No configuration"), so nothing listens on port 25.
"""

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

CANDIDATES = ("/usr/sbin/smtp-sink", "/usr/lib/postfix/sbin/smtp-sink")
APT_LOG = Path(tempfile.gettempdir()) / "bench-smtp-sink-apt.log"
COUNTER = re.compile(rb"mesg=(\d+)")


class FastSinkMissing(RuntimeError):
    pass


def smtp_sink_binary(*, install: bool = True) -> str:
    found = shutil.which("smtp-sink") or next(
        (p for p in CANDIDATES if os.access(p, os.X_OK)), None
    )
    if found:
        return found
    if not install or os.geteuid() != 0 or not shutil.which("apt-get"):
        raise FastSinkMissing(
            "smtp-sink not found (Debian: apt-get install postfix, answering 'No configuration'); "
            "not root or no apt-get, so not installing it"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Install only the binaries: the daemon stays unconfigured and does not start.
    steps = [
        ["sh", "-c", "echo 'postfix postfix/main_mailer_type select No configuration' "
                     "| debconf-set-selections"],
        ["apt-get", "-o", "DPkg::Lock::Timeout=300", "update", "-q"],
        ["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "-q", "postfix"],
    ]  # fmt: skip
    with APT_LOG.open("wb") as log:
        for step in steps:
            if subprocess.run(step, env=env, stdout=log, stderr=subprocess.STDOUT).returncode:
                raise FastSinkMissing(f"installing postfix failed (log: {APT_LOG})")
    return smtp_sink_binary(install=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class FastSink:
    def __init__(self, *, backlog: int = 1024):
        self.binary = smtp_sink_binary()
        self.port = _free_port()
        self.backlog = backlog
        self.process = None

    def __enter__(self) -> "FastSink":
        self.counter_file = tempfile.NamedTemporaryFile(prefix="smtp-sink-", suffix=".log")
        command = [self.binary, "-c"]  # -c: a running count on stdout, per message
        if os.geteuid() == 0:
            command += ["-u", "nobody"]  # it refuses to run as root otherwise
        command += [f"127.0.0.1:{self.port}", str(self.backlog)]
        self.process = subprocess.Popen(
            command, stdout=self.counter_file, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise FastSinkMissing(f"smtp-sink did not start: {self.output()}") from None
                time.sleep(0.05)
        self.base = self.count()  # the probe above is a session, not a message
        return self

    def output(self) -> str:
        return Path(self.counter_file.name).read_bytes()[-500:].decode(errors="replace")

    def count(self) -> int:
        """Messages accepted since start (the last counter smtp-sink wrote)."""
        path = Path(self.counter_file.name)
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - 200))
            found = COUNTER.findall(f.read())
        return (int(found[-1]) if found else 0) - getattr(self, "base", 0)

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.counter_file.close()
