"""The benchmarks' load data (tests/bench/load.py) is shaped like what the services write."""

import re

import pytest
from django.utils import timezone

from batches.models import Batch
from sendings import demo
from sendings.models import Contact, ContactList, Sending, Subaccount
from tests.bench import load as load_data
from tests.invariants import assert_counts_add_up


@pytest.mark.django_db
def test_load_adds_mixed_sendings_and_contacts_every_run():
    load_data.load(sendings=50, contacts=200, say=lambda line: None)
    load = Subaccount.objects.get(name="Load test", account__identifier=demo.ACCOUNT_IDENTIFIER)
    sendings = Sending.objects.filter(subaccount=load)

    assert ContactList.objects.get(subaccount=load, name="Load audience").contacts.count() == 200
    assert sendings.count() == 50
    assert set(sendings.values_list("status", flat=True)) == {
        "sent", "scheduled", "canceled", "sending"
    }  # fmt: skip
    assert sendings.filter(status="sent").count() > 30
    identifiers = list(sendings.values_list("identifier", flat=True))
    assert all(re.fullmatch(r"SND-[0-9A-Z]{10}", identifier) for identifier in identifiers)
    assert Batch.objects.filter(sending__in=sendings).count() == 150
    assert_counts_add_up()

    load_data.load(sendings=50, contacts=200, say=lambda line: None)

    assert sendings.count() == 100
    assert Contact.objects.filter(subaccount=load).count() == 400
    assert sendings.filter(name__startswith="Load sending 00100 ").exists()
    assert_counts_add_up()


@pytest.mark.django_db
@pytest.mark.parametrize("set_based", [True, False], ids=["copy", "executemany"])
def test_load_sendings_look_like_what_the_services_write(set_based):
    load = load_data.load_subaccount()
    load_data.load_contacts(subaccount=load, count=30, set_based=set_based)
    statuses = load_data.load_sendings(subaccount=load, count=120, set_based=set_based)
    now = timezone.now()

    assert sum(statuses.values()) == 120
    assert_counts_add_up()
    for sending in Sending.objects.filter(subaccount=load).prefetch_related("batches"):
        batches = sorted(sending.batches.all(), key=lambda b: b.number)
        assert sending.status == Sending.status_for_batches([b.status for b in batches])
        assert sending.scheduled_at == batches[0].scheduled_at
        assert [b.number for b in batches] == [1, 2, 3]
        for batch in batches:
            if batch.status == "scheduled":
                assert batch.scheduled_at > now
            if batch.status in ("sent", "sending"):
                assert batch.started_at <= now
        assert (sending.finished_at is not None) == sending.is_finished
        assert sending.events.filter(kind="confirmed").exists()
    assert Contact.objects.filter(subaccount=load).count() == 30
    assert not Contact.objects.exclude(email__regex=r"^[a-z]+\.[a-z]+\d+@[a-z0-9.-]+$").exists()
