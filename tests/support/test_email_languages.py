"""Each ticket email in its reader's language: support's in SUPPORT_LANGUAGE, the outcome in
the requester's saved language (else LANGUAGE_CODE). The subject "Urgent Cancel Sending" is
the same in every language."""

import pytest
from django.core import mail
from django.utils import translation

from sendings.models import UserPreference
from support import services

pytestmark = pytest.mark.django_db


def file_and_decline(sending, requester, support_user, capture, reason):
    with capture(execute=True):
        ticket, _ = services.ticket_file(sending=sending, requester=requester, message="¡Para!")
    with capture(execute=True):
        services.ticket_decline(ticket=ticket, actor=support_user, reason=reason)
    return ticket


def test_support_reads_spanish_and_a_requester_who_prefers_spanish_too(
    settings, in_progress, marketer, support_user, eager_tasks, django_capture_on_commit_callbacks
):
    settings.SUPPORT_LANGUAGE = "es"
    UserPreference.objects.create(user=marketer, language="es")

    with translation.override("en"):  # whoever acted, each email is in its reader's language
        ticket = file_and_decline(
            in_progress, marketer, support_user, django_capture_on_commit_callbacks, "Ya está"
        )

    to_support, outcome = mail.outbox
    assert to_support.subject == "Urgent Cancel Sending"
    assert to_support.body.startswith("Un cliente pide detener un envío en curso.\n")
    for line in [
        f"ID de cuenta: {ticket.account_identifier}",
        "Nombre del envío: Black Friday",
        f"ID del envío: {ticket.sending_identifier}",
        "Enviados al solicitarlo: 1 de 6",
        "Mensaje del cliente:\n¡Para!",
        f"Abrir el ticket: https://dashboard.example.com/support/tickets/{ticket.pk}/",
    ]:
        assert line in to_support.body
    assert outcome.subject == "Re: Urgent Cancel Sending: Black Friday"
    assert outcome.to == [marketer.email]
    assert outcome.body.startswith(
        f"Tu solicitud de cancelación urgente de «Black Friday» ({ticket.sending_identifier}) "
        "está cerrada.\n"
    )
    assert "Cancelación rechazada: Ya está" in outcome.body
    assert "Los contactos que ya habían recibido el mensaje no se pueden recuperar." in (
        outcome.body
    )


def test_english_by_default_whatever_language_the_request_came_in(
    in_progress, marketer, support_user, eager_tasks, django_capture_on_commit_callbacks
):
    with translation.override("es"):
        file_and_decline(
            in_progress, marketer, support_user, django_capture_on_commit_callbacks, "Done"
        )

    to_support, outcome = mail.outbox
    assert to_support.subject == "Urgent Cancel Sending"
    assert to_support.body.startswith("A customer asks to stop a sending in progress.\n")
    assert "Sent when requested: 1 of 6" in to_support.body
    assert outcome.body.startswith("Your urgent cancellation request for “Black Friday”")
    assert "Cancellation declined: Done" in outcome.body
