"""Sendings in every status, built through the services, and who may see them: page tests."""

from datetime import timedelta

import pytest
from django.urls import reverse

from batches import services as batch_services
from batches.models import Batch
from sendings import services as sending_services
from sendings.models import Sending, Subaccount
from tests.factories import SendingFactory, scheduled_sending

STATUSES = ["draft", "scheduled", "sending", "sent", "canceled"]


def assert_sent_to_login(response) -> None:
    assert response.status_code == 302
    assert response.url.startswith(reverse("login") + "?next=")


def assert_not_found(response) -> None:
    assert response.status_code == 404


def assert_forbidden(response) -> None:
    assert response.status_code == 403


# The personas tables: a test parametrizes `persona` (which `as_persona` logs in) with one.
# Who may not see a subaccount's pages, and what each gets instead.
KEPT_OUT = [
    pytest.param("anonymous", assert_sent_to_login, id="anonymous-is-sent-to-login"),
    pytest.param("outsider", assert_not_found, id="outsider-gets-404"),
]
# Who may not change anything there: the above, and a viewer, who may only look.
REFUSED = [*KEPT_OUT, pytest.param("viewer", assert_forbidden, id="viewer-gets-403")]
# The subaccount's members see its pages; whether they are offered its actions.
MEMBERS = [
    pytest.param("marketer", True, id="marketer-is-offered-actions"),
    pytest.param("viewer", False, id="viewer-is-offered-none"),
]
# The same members, for pages that show both the same.
MEMBER_PERSONAS = ["marketer", "viewer"]


def _start(batch: Batch) -> None:
    assert batch_services.batch_start(
        batch_id=batch.pk, now=batch.scheduled_at + timedelta(minutes=1)
    )


def _deliver(batch: Batch, *, count: int | None = None) -> None:
    ids = list(
        batch.recipients.filter(status="pending").order_by("id").values_list("id", flat=True)
    )
    batch_services.recipients_record_results(batch_id=batch.pk, sent=ids[:count])


def sending_in(status: str, subaccount: Subaccount, *, name: str | None = None) -> Sending:
    """A sending of 6 contacts in 3 batches (a draft has none) brought to `status`."""
    if status == "draft":
        return SendingFactory(subaccount=subaccount, **({"name": name} if name else {}))
    sending = scheduled_sending(subaccount, contacts=6, sizes=[2, 2, None])
    if name:
        Sending.objects.filter(pk=sending.pk).update(name=name)
    batches = list(sending.batches.order_by("number"))
    if status == "sending":
        _start(batches[0])
        _deliver(batches[0], count=1)  # batches 2 and 3 still scheduled
    elif status == "sent":
        for batch in batches:
            _start(batch)
            _deliver(batch)
            assert batch_services.batch_finish(batch_id=batch.pk)
    elif status == "canceled":
        sending_services.sending_cancel(sending=sending, actor=None)
    sending.refresh_from_db()
    assert sending.status == status
    return sending


@pytest.fixture(params=STATUSES)
def status(request) -> str:
    return request.param


@pytest.fixture
def any_sending(status, subaccount) -> Sending:
    return sending_in(status, subaccount, name=f"Campaign {status}")


@pytest.fixture
def as_persona(client, persona, request):
    """A client logged in as the test's `persona` (anonymous: not logged in)."""
    if persona != "anonymous":
        client.force_login(request.getfixturevalue(persona))
    return client
