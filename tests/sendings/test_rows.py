"""The list's rows come from the cache by content: never stale, never someone else's."""

import pytest
from django.core.cache import cache
from django.urls import reverse

from batches import services as batch_services
from sendings import services as sending_services
from tests.sendings.conftest import sending_in

pytestmark = pytest.mark.django_db


def list_html(client, subaccount, query: str = "") -> str:
    return client.get(reverse("sending_list", args=[subaccount.pk]) + query).content.decode()


def test_a_cached_row_follows_every_change(client, marketer, subaccount, settings):
    settings.SMALL_SENDING_MAX_RECIPIENTS = 0  # so support may stop this 6-contact sending
    sending = sending_in("sending", subaccount, name="Spring sale")
    client.force_login(marketer)
    assert "1 / 6" in list_html(client, subaccount)
    keys = cache._cache.get_client().keys("*")
    assert any(key.decode().startswith(":1:row:") for key in keys), "rows were not cached"

    batch = sending.batches.get(number=1)
    ids = list(batch.recipients.filter(status="pending").values_list("id", flat=True))
    batch_services.recipients_record_results(batch_id=batch.pk, sent=ids)
    assert "2 / 6" in list_html(client, subaccount)

    sending_services.sending_stop(sending=sending, actor=marketer)
    page = list_html(client, subaccount)
    assert ">Canceled<" in page and ">Sending<" not in page


def test_a_viewer_never_gets_the_marketers_cached_row(client, marketer, viewer, subaccount):
    sending_in("scheduled", subaccount, name="Spring sale")
    client.force_login(marketer)
    assert 'class="menu-item menu-item-danger">Cancel</button>' in list_html(client, subaccount)

    client.force_login(viewer)
    page = list_html(client, subaccount)

    assert "menu-item-danger" not in page
    assert "Only marketers of this subaccount can cancel a sending." in page


def test_rows_return_to_the_page_they_are_on(client, marketer, subaccount):
    sending_in("scheduled", subaccount, name="Spring sale")
    client.force_login(marketer)
    list_html(client, subaccount)

    page = list_html(client, subaccount, "?q=Spring")

    assert 'name="next" value="/subaccounts/' in page and "?q=Spring" in page


def test_home_brings_a_marketer_back_to_the_subaccount_they_last_opened(
    client, marketer, subaccount, other_subaccount
):
    from tests.factories import MembershipFactory

    MembershipFactory(user=marketer, subaccount=other_subaccount)
    client.force_login(marketer)
    first = client.get(reverse("home"))
    other = next(s for s in (subaccount, other_subaccount) if f"/{s.pk}/" not in first.url)

    client.get(reverse("sending_list", args=[other.pk]))

    assert client.get(reverse("home")).url == reverse("sending_list", args=[other.pk])
