"""Urgent-cancel tickets: sendings in progress, email captured, tasks run in the test."""

import pytest

from sendings.models import Sending
from tests.sendings.conftest import sending_in


@pytest.fixture(autouse=True)
def mail(settings):
    """Every email lands in django.core.mail.outbox."""
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    settings.SUPPORT_EMAIL = "soporte@example.com"
    settings.SITE_URL = "https://dashboard.example.com"


@pytest.fixture
def stoppable(settings):
    """The test sendings have 6 contacts: make them big enough to be stopped."""
    settings.SMALL_SENDING_MAX_RECIPIENTS = 5


@pytest.fixture
def in_progress(subaccount, stoppable) -> Sending:
    """6 contacts in 3 batches: batch 1 sending with 1 of 2 sent, batches 2 and 3 scheduled."""
    return sending_in("sending", subaccount, name="Black Friday")
