"""One-click unsubscribe (RFC 8058): the link in every message, the public page behind it."""

import re

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from batches import delivery
from batches import services as batch_services
from batches.models import Recipient
from sendings.models import Contact
from sendings.unsubscribe.tokens import unsubscribe_token, unsubscribe_token_read
from sendings.wizard import services as wizard_services
from tests.factories import ContactFactory, SendingFactory, scheduled_sending
from tests.smtp_sink import SmtpSink

pytestmark = pytest.mark.django_db

ONE_CLICK = {"List-Unsubscribe": "One-Click"}
LINK = re.compile(r"<https?://[^/]+(/u/[^/>]+/)>")


def delivered_sending(subaccount, settings, sink: SmtpSink, *, contacts=3):
    """A sending delivered in-process into the sink; returns it and the sink's messages."""
    settings.MAILERS = sink.mailer_settings()
    sending = scheduled_sending(subaccount, contacts=contacts, first_at=timezone.now())
    batch = sending.batches.get()
    assert batch_services.batch_start(batch_id=batch.pk)
    delivery.batch_deliver(batch_id=batch.pk, budget_seconds=30)
    return sending, sink.snapshot()


def link_path(message) -> str:
    return LINK.search(message["List-Unsubscribe"])[1]


def test_one_click_from_the_delivered_message_unsubscribes_without_a_session(subaccount, settings):
    with SmtpSink() as sink:
        _sending, received = delivered_sending(subaccount, settings, sink)
    message = received[0].parsed()
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "<mailto:news@acme.example?subject=" in message["List-Unsubscribe"]
    path = link_path(message)
    contact = Contact.objects.get(email=received[0].rcpt)
    client = Client(enforce_csrf_checks=True)  # what a mail provider's server looks like

    first = client.post(path, ONE_CLICK)

    assert first.status_code == 200
    assert not first.cookies
    contact.refresh_from_db()
    assert contact.unsubscribed and contact.unsubscribed_at is not None
    stamped = contact.unsubscribed_at
    second = client.post(path, ONE_CLICK)
    assert second.status_code == 200
    contact.refresh_from_db()
    assert contact.unsubscribed_at == stamped
    others = Contact.objects.filter(subaccount=subaccount).exclude(pk=contact.pk)
    assert not others.filter(unsubscribed=True).exists()


def test_a_get_shows_the_masked_address_and_a_button_and_changes_nothing(subaccount):
    sending = scheduled_sending(subaccount, contacts=1)
    contact = Contact.objects.get(subaccount=subaccount)
    path = f"/u/{unsubscribe_token(sending_id=sending.pk, contact_id=contact.pk)}/"

    page = Client().get(path)

    assert page.status_code == 200
    body = page.content.decode()
    assert contact.email not in body
    local, domain = contact.email.split("@")
    assert f"{local[0]}{'*' * (len(local) - 1)}@{domain}" in body
    assert re.search(r'<button type="submit"[^>]*>Unsubscribe</button>', body)
    assert 'name="List-Unsubscribe" value="One-Click"' in body
    assert not page.cookies
    contact.refresh_from_db()
    assert not contact.unsubscribed


@pytest.mark.parametrize(
    "token",
    ["nonsense", "1-1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "x" * 300],
)
def test_a_bad_token_is_a_400_page(subaccount, token):
    for method in ("get", "post"):
        response = getattr(Client(), method)(f"/u/{token}/", ONE_CLICK)
        assert response.status_code == 400
        assert "not valid" in response.content.decode()


def test_a_tampered_token_is_refused_and_unsubscribes_nobody(subaccount):
    sending = scheduled_sending(subaccount, contacts=2)
    first, second = Contact.objects.filter(subaccount=subaccount).order_by("pk")
    token = unsubscribe_token(sending_id=sending.pk, contact_id=first.pk)
    value, signature = token.rsplit(".", 1)
    forged = f"{value.split('-')[0]}-{second.pk:x}.{signature}"

    assert Client().post(f"/u/{forged}/", ONE_CLICK).status_code == 400
    assert not Contact.objects.filter(unsubscribed=True).exists()


def test_a_post_without_the_one_click_body_is_refused(subaccount):
    sending = scheduled_sending(subaccount, contacts=1)
    contact = Contact.objects.get(subaccount=subaccount)
    path = f"/u/{unsubscribe_token(sending_id=sending.pk, contact_id=contact.pk)}/"

    assert Client().post(path, {"List-Unsubscribe": "yes"}).status_code == 400
    contact.refresh_from_db()
    assert not contact.unsubscribed


def test_a_token_only_reaches_a_contact_of_the_sendings_subaccount(subaccount, other_subaccount):
    sending = scheduled_sending(subaccount, contacts=1)
    foreign = ContactFactory(subaccount=other_subaccount)
    path = f"/u/{unsubscribe_token(sending_id=sending.pk, contact_id=foreign.pk)}/"

    response = Client().post(path, ONE_CLICK)

    assert response.status_code == 200
    assert "Nothing to unsubscribe" in response.content.decode()
    foreign.refresh_from_db()
    assert not foreign.unsubscribed


def test_tokens_carry_the_sending_and_the_contact_and_a_salt_of_their_own():
    from django.core import signing

    token = unsubscribe_token(sending_id=123456, contact_id=987654321)
    read = unsubscribe_token_read(token)
    assert (read.sending_id, read.contact_id) == (123456, 987654321)
    plain = signing.Signer(sep=".").sign(token.rsplit(".", 1)[0])
    assert unsubscribe_token_read(plain) is None


def test_a_test_send_carries_the_one_click_link_too(subaccount, marketer):
    sending = SendingFactory(subaccount=subaccount)
    contact = ContactFactory(subaccount=subaccount, email="ana@example.org")

    wizard_services.sending_send_test(
        sending=sending, addresses=["ana@example.org", "boss@example.org"]
    )

    links = {m.to[0]: m.extra_headers["List-Unsubscribe"] for m in mail.outbox}
    assert all(m.extra_headers["List-Unsubscribe-Post"] for m in mail.outbox)
    ana_token = LINK.search(next(v for k, v in links.items() if "ana@" in k))[1].split("/")[2]
    assert unsubscribe_token_read(ana_token).contact_id == contact.pk
    boss_token = LINK.search(next(v for k, v in links.items() if "boss@" in k))[1].split("/")[2]
    assert unsubscribe_token_read(boss_token).contact_id == 0
    assert Client().post(f"/u/{boss_token}/", ONE_CLICK).status_code == 200


def test_every_recipient_gets_a_link_of_their_own(subaccount, settings):
    with SmtpSink() as sink:
        sending, received = delivered_sending(subaccount, settings, sink, contacts=3)
    paths = {item.rcpt: link_path(item.parsed()) for item in received}
    assert len(set(paths.values())) == 3
    for email, path in paths.items():
        token = unsubscribe_token_read(path.split("/")[2])
        recipient = Recipient.objects.get(sending=sending, email=email)
        assert (token.sending_id, token.contact_id) == (sending.pk, recipient.contact_id)
