import time
from datetime import timedelta
import pytest
from django.utils import timezone
from sendings.models import Sending
from tests.factories import scheduled_sending
from tests.workers import wait_for

@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round", range(6))
def test_first_tick(round, subaccount, sink, workers):
    workers.start(2)
    t0 = time.monotonic()
    sending = scheduled_sending(subaccount, contacts=20000 if round % 2 else 5, first_at=timezone.now() + timedelta(seconds=1))
    t1 = time.monotonic()
    wait_for(lambda: Sending.objects.get(pk=sending.pk).status != "scheduled", timeout=120, what="start")
    print(f"\nround {round}: created in {t1-t0:.1f}s, started {time.monotonic()-t1:.1f}s later")
