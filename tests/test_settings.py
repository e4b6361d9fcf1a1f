"""Settings come from the environment; a malformed value stops start-up naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config import env

ROOT = Path(__file__).resolve().parent.parent


def test_booleans_are_strict(monkeypatch):
    monkeypatch.setenv("DEBUG", "yes")
    assert env.env_bool("DEBUG", False) is True
    monkeypatch.setenv("DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="DEBUG must be a boolean"):
        env.env_bool("DEBUG", False)


def test_integers_are_checked(monkeypatch):
    monkeypatch.setenv("SMALL_SENDING_MAX_RECIPIENTS", "1,000")
    with pytest.raises(ImproperlyConfigured, match="SMALL_SENDING_MAX_RECIPIENTS"):
        env.env_int("SMALL_SENDING_MAX_RECIPIENTS", 1000)
    monkeypatch.setenv("SMALL_SENDING_MAX_RECIPIENTS", "-5")
    with pytest.raises(ImproperlyConfigured, match="at least 0"):
        env.env_int("SMALL_SENDING_MAX_RECIPIENTS", 1000, minimum=0)


def test_database_url_is_parsed_or_refused(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db.internal:6543/app")
    config = env.env_database("DATABASE_URL", "sqlite:///x")
    assert (config["HOST"], config["PORT"], config["NAME"]) == ("db.internal", 6543, "app")
    monkeypatch.setenv("DATABASE_URL", "mysql://nope/app")
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        env.env_database("DATABASE_URL", "sqlite:///x")


def test_database_connections_are_kept_and_checked_unless_the_age_is_zero(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db.internal:5432/app")
    kept = env.env_database("DATABASE_URL", "sqlite:///x", conn_max_age=600)
    assert (kept["CONN_MAX_AGE"], kept["CONN_HEALTH_CHECKS"]) == (600, True)
    closed = env.env_database("DATABASE_URL", "sqlite:///x", conn_max_age=0)
    assert (closed["CONN_MAX_AGE"], closed["CONN_HEALTH_CHECKS"]) == (0, False)


def test_connection_age_defaults_to_ten_minutes_and_refuses_nonsense():
    default = load_settings("DATABASES['default']", DEBUG="true", DATABASE_CONN_MAX_AGE="")
    assert default.returncode == 0, default.stderr
    assert "'CONN_MAX_AGE': 600" in default.stdout
    assert "'CONN_HEALTH_CHECKS': True" in default.stdout
    for bad, message in (("10m", "must be an integer"), ("-1", "must be at least 0")):
        result = load_settings(DEBUG="true", DATABASE_CONN_MAX_AGE=bad)
        assert result.returncode != 0
        assert f"DATABASE_CONN_MAX_AGE {message}" in result.stderr


def test_sqlite_default_uses_wal_and_immediate_transactions(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    config = env.env_database("DATABASE_URL", "sqlite:////tmp/x.sqlite3")
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in config["OPTIONS"]["init_command"]


def test_support_email_must_be_an_address(monkeypatch):
    monkeypatch.setenv("SUPPORT_EMAIL", "support")
    with pytest.raises(ImproperlyConfigured, match="SUPPORT_EMAIL"):
        env.env_email("SUPPORT_EMAIL", "a@b.c")


def load_settings(show: str = "MAILERS['default']", **environ):
    """Import the real settings module in a fresh interpreter with this environment, and
    print the setting `show`."""
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    clean.update(environ)
    return subprocess.run(
        [sys.executable, "-c", f"import config.settings as s; print(s.{show})"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
    )


def test_secret_key_is_required_without_debug():
    result = load_settings(DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr


def test_malformed_value_stops_start_up_naming_the_variable():
    result = load_settings(DEBUG="true", CLAIM_TIMEOUT_SECONDS="soon")
    assert result.returncode != 0
    assert "CLAIM_TIMEOUT_SECONDS must be an integer" in result.stderr


def test_email_goes_to_smtp_when_a_host_is_set():
    result = load_settings(DEBUG="true", EMAIL_HOST="127.0.0.1", EMAIL_PORT="2525")
    assert result.returncode == 0, result.stderr
    # Django's SMTP backend, through the bulk subclass that sends prepared envelopes as they are.
    assert "batches.mail.BulkEmailBackend" in result.stdout and "2525" in result.stdout
    default = load_settings(DEBUG="true", EMAIL_HOST="")
    assert "filebased.EmailBackend" in default.stdout
