"""DKIM: every message is signed when the settings say so, over the bytes that go out."""

import subprocess
import sys
from pathlib import Path

import dkim
import pytest
from django.utils import timezone

from batches import delivery
from batches import services as batch_services
from batches.dkim import dkim_signer
from batches.rendering import Content, message_build
from batches.services import Claim
from tests.factories import scheduled_sending
from tests.smtp_sink import SmtpSink

pytestmark = pytest.mark.django_db

HERE = Path(__file__).parent
KEY = (HERE / "dkim_test_key.pem").read_text()
PUBLIC = (HERE / "dkim_test_key.pub.b64").read_text().strip()
ROOT = HERE.parents[1]


def dns(name, timeout=5):
    """The TXT record a receiver would look up: only ours exists."""
    if name == b"mail2026._domainkey.acme.example.":
        return f"v=DKIM1; k=rsa; p={PUBLIC}".encode()
    return None


@pytest.fixture
def signing(settings):
    settings.DKIM_DOMAIN, settings.DKIM_SELECTOR, settings.DKIM_PRIVATE_KEY = (
        "acme.example",
        "mail2026",
        KEY,
    )


def test_a_signed_message_verifies_against_the_public_key(subaccount, signing):
    sending = scheduled_sending(subaccount, contacts=1)
    raw = message_build(
        Content.of(sending), Claim(id=1, email="ana@example.org", name="Ana Ñ", contact_id=None)
    ).as_raw()

    assert raw.startswith(b"DKIM-Signature: ")
    assert dkim.verify(raw, dnsfunc=dns)
    signed = dkim.DKIM(raw)
    signed.verify(dnsfunc=dns)
    assert {b"list-unsubscribe", b"list-unsubscribe-post", b"from", b"subject"} <= set(
        signed.include_headers
    )
    tampered = raw.replace(b"List-Unsubscribe: <http", b"List-Unsubscribe: <xhttp")
    assert not dkim.verify(tampered, dnsfunc=dns)


def test_messages_verify_after_the_smtp_server_received_them(subaccount, settings, signing):
    with SmtpSink() as sink:
        settings.MAILERS = sink.mailer_settings()
        sending = scheduled_sending(subaccount, contacts=3, first_at=timezone.now())
        batch = sending.batches.get()
        assert batch_services.batch_start(batch_id=batch.pk)
        delivery.batch_deliver(batch_id=batch.pk, budget_seconds=30)
    received = sink.snapshot()
    assert len(received) == 3
    for item in received:
        assert dkim.verify(item.raw, dnsfunc=dns), item.rcpt


def test_without_the_settings_nothing_is_signed(subaccount, settings):
    settings.DKIM_DOMAIN = settings.DKIM_SELECTOR = settings.DKIM_PRIVATE_KEY = ""
    assert dkim_signer() is None
    sending = scheduled_sending(subaccount, contacts=1)
    raw = message_build(
        Content.of(sending), Claim(id=1, email="a@example.org", name="A", contact_id=None)
    ).as_raw()
    assert b"DKIM-Signature" not in raw


def settings_check(env: dict) -> subprocess.CompletedProcess:
    """Import the settings in a fresh process with `env`, as start-up does."""
    return subprocess.run(
        [sys.executable, "-c", "import config.settings"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DEBUG": "true", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_malformed_key_stops_start_up(tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n")
    dkim_env = {"DKIM_DOMAIN": "acme.example", "DKIM_SELECTOR": "s1"}
    for key in (str(bad), "not a key at all", str(tmp_path / "missing.pem")):
        result = settings_check({**dkim_env, "DKIM_PRIVATE_KEY": key})
        assert result.returncode != 0
        assert "ImproperlyConfigured" in result.stderr and "DKIM_PRIVATE_KEY" in result.stderr
    incomplete = settings_check({"DKIM_DOMAIN": "acme.example"})
    assert "ImproperlyConfigured" in incomplete.stderr


def test_a_key_file_or_pem_text_is_accepted(tmp_path):
    path = tmp_path / "dkim.pem"
    path.write_text(KEY)
    dkim_env = {"DKIM_DOMAIN": "acme.example", "DKIM_SELECTOR": "s1"}
    assert settings_check({**dkim_env, "DKIM_PRIVATE_KEY": str(path)}).returncode == 0
    one_line = KEY.strip().replace("\n", "\\n")
    assert settings_check({**dkim_env, "DKIM_PRIVATE_KEY": one_line}).returncode == 0
