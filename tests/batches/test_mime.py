"""The bytes batches.mime assembles parse back, with the email package, to what was meant."""

import email
import email.policy

import pytest

from batches.mime import PreparedMessage, encode_address


def parsed(message: PreparedMessage):
    raw = message.message().as_bytes()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    return email.message_from_bytes(raw, policy=email.policy.default)


def prepared(**overrides) -> PreparedMessage:
    values = {
        "subject": "Spring offers",
        "body": "Hello Ana",
        "from_email": encode_address("Acme", "news@acme.example"),
        "to": [encode_address("Ana", "ana@example.org")],
        "headers": {"List-Unsubscribe": "<mailto:u@acme.example?subject=x>"},
    }
    message = PreparedMessage(**(values | overrides))
    message.attach_alternative("<p>Hello Ana</p>", "text/html")
    return message


def test_plain_ascii_message_round_trips():
    result = parsed(prepared())
    assert result["Subject"] == "Spring offers"
    assert result["To"] == "Ana <ana@example.org>"
    assert result["From"] == "Acme <news@acme.example>"
    assert result["List-Unsubscribe"] == "<mailto:u@acme.example?subject=x>"
    assert result.get_content_type() == "multipart/alternative"
    assert result.get_body(("plain",)).get_content().strip() == "Hello Ana"
    assert result.get_body(("html",)).get_content().strip() == "<p>Hello Ana</p>"
    assert result["Message-ID"] and result["Date"]


def test_non_ascii_subject_names_and_bodies_are_encoded():
    text = "¡Hola, Begoña! Ofertas de primavera: 20 % en cafés ☕"
    message = PreparedMessage(
        subject=f"{text} " * 6,
        body=text + "\n" + "x" * 1200,
        from_email=encode_address("Acmé Ñ", "news@acme.example"),
        to=[encode_address('José "Pepe" Núñez', "jose@bücher.example")],
    )
    message.attach_alternative(f"<p>{text}</p>", "text/html")

    result = parsed(message)

    assert result["Subject"].strip() == (f"{text} " * 6).strip()
    assert result["To"].addresses[0].display_name == 'José "Pepe" Núñez'
    assert result["To"].addresses[0].domain == "xn--bcher-kva.example"
    assert result["From"].addresses[0].display_name == "Acmé Ñ"
    # On the wire every line break is CRLF; decoded, that is the text's own line break.
    plain = result.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert plain.rstrip("\n") == text + "\n" + "x" * 1200
    assert result.get_body(("html",)).get_content().strip() == f"<p>{text}</p>"


def test_a_name_cannot_inject_headers():
    message = prepared(to=[encode_address("Ana\r\nBcc: victim@example.org", "ana@example.org")])

    result = parsed(message)

    assert result["Bcc"] is None
    assert "victim@example.org" in str(result["To"])  # kept as harmless display text


def test_a_text_only_message_is_a_single_part():
    message = PreparedMessage(
        subject="Hi", body="Just text", from_email="a@acme.example", to=["b@example.org"]
    )
    result = parsed(message)
    assert result.get_content_type() == "text/plain"
    assert result.get_content().strip() == "Just text"


def test_a_non_ascii_local_part_is_refused():
    with pytest.raises(ValueError):
        encode_address("Ana", "añe@example.org")


def test_the_bulk_backend_is_djangos_smtp_backend():
    from django.core.mail.backends.smtp import EmailBackend

    from batches.mail import BulkEmailBackend

    assert issubclass(BulkEmailBackend, EmailBackend)


def test_other_mail_takes_djangos_own_path_through_the_bulk_backend(settings):
    from django.core.mail import EmailMessage

    from tests.smtp_sink import SmtpSink

    with SmtpSink() as sink:
        settings.MAILERS = sink.mailer_settings()
        EmailMessage("Urgent Cancel Sending", "Body", "a@acme.example", ["b@example.org"]).send()
        assert sink.rcpts() == ["b@example.org"]
        assert sink.snapshot()[0].parsed()["Subject"] == "Urgent Cancel Sending"
