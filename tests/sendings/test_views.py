"""The subaccount sending list, its rows, the detail page and cancel: every status x persona."""

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from batches.models import Batch
from sendings.models import Sending
from tests.factories import MembershipFactory, SendingFactory, UserFactory, scheduled_sending
from tests.sendings.conftest import KEPT_OUT, MEMBERS, REFUSED, STATUSES, sending_in

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
BADGE = {"draft": "Draft", "scheduled": "Scheduled", "sending": "Sending", "sent": "Sent",
         "canceled": "Canceled"}  # fmt: skip


def html(response) -> str:
    return response.content.decode()


def status_of(sending: Sending) -> str:
    return Sending.objects.values_list("status", flat=True).get(pk=sending.pk)


def batch_status(sending: Sending, number: int) -> str:
    return Batch.objects.values_list("status", flat=True).get(sending=sending, number=number)


def batch_statuses(sending: Sending) -> list[str]:
    return list(sending.batches.order_by("number").values_list("status", flat=True))


def flash(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- Every status x every persona: who gets in -----------------------------------------------

# Every page of a sending, as a request: (url, extra headers).
PAGES = {
    "list": lambda sending: (reverse("sending_list", args=[sending.subaccount_id]), {}),
    "row": lambda sending: (reverse("sending_row", args=[sending.identifier]), HTMX),
    "detail": lambda sending: (reverse("sending_detail", args=[sending.identifier]), {}),
    "batches": lambda sending: (reverse("sending_batches", args=[sending.identifier]), {}),
    "batches-fragment": lambda sending: (
        reverse("sending_batches", args=[sending.identifier]),
        HTMX,
    ),
}

# Every change the pages offer on a sending, as a request: (url, form data, extra headers).
CHANGES = {
    "cancel": lambda sending: (
        reverse("sending_cancel", args=[sending.identifier]),
        {"next": reverse("sending_list", args=[sending.subaccount_id]) + "?status=scheduled"},
        {},
    ),
    "cancel-from-htmx": lambda sending: (
        reverse("sending_cancel", args=[sending.identifier]),
        {},
        HTMX,
    ),
    "batch-cancel": lambda sending: (
        reverse("batch_cancel", args=[sending.identifier, 3]),
        {},
        {},
    ),
}


@pytest.mark.parametrize("page_name", PAGES)
@pytest.mark.parametrize(("persona", "assert_kept_out"), KEPT_OUT)
def test_strangers_are_kept_out_of_every_page(as_persona, any_sending, page_name, assert_kept_out):
    url, headers = PAGES[page_name](any_sending)

    assert_kept_out(as_persona.get(url, **headers))


@pytest.mark.parametrize("change", CHANGES)
@pytest.mark.parametrize(("persona", "assert_refused"), REFUSED)
def test_only_a_marketer_may_cancel_and_nothing_changes_for_the_others(
    as_persona, any_sending, status, change, assert_refused
):
    url, data, headers = CHANGES[change](any_sending)
    batches_before = batch_statuses(any_sending)

    assert_refused(as_persona.post(url, data, **headers))

    assert status_of(any_sending) == status
    assert batch_statuses(any_sending) == batches_before


# --- Every status x each member: what the pages show -----------------------------------------


@pytest.mark.parametrize(("persona", "may_act"), MEMBERS)
def test_list_page_shows_the_sending_and_cancel_only_to_a_marketer(
    as_persona, may_act, any_sending, status, subaccount
):
    response = as_persona.get(reverse("sending_list", args=[subaccount.pk]))

    assert response.status_code == 200
    content = html(response)
    assert '<table class="table sendings-table" aria-label="Sendings">' in content
    assert any_sending.name in content
    assert f'title="{any_sending.identifier}"' in content
    assert f">{BADGE[status]}</span>" in content
    assert f'aria-label="Actions for {any_sending.name}"' in content
    assert "View details" in content
    can_cancel = may_act and status == "scheduled"
    cancel_form = f'<form method="get" action="/sendings/{any_sending.identifier}/cancel/"'
    assert (cancel_form in content) is can_cancel
    assert ('class="menu-item menu-item-danger">Cancel</button>' in content) is can_cancel
    assert '<dialog id="confirm-dialog"' in content
    # Every confirmed sending has the eye button; a draft has no batches to show.
    assert (f'aria-label="View batches of {any_sending.name}"' in content) is (status != "draft")


@pytest.mark.parametrize(("persona", "may_act"), MEMBERS)
def test_row_shows_the_status_and_polls_only_while_sending(
    as_persona, may_act, any_sending, status
):
    response = as_persona.get(reverse("sending_row", args=[any_sending.identifier]), **HTMX)

    assert response.status_code == 200
    content = html(response).strip()
    assert content.startswith(f'<tr id="row-{any_sending.identifier}"')
    assert f">{BADGE[status]}</span>" in content
    can_cancel = may_act and status == "scheduled"
    assert (">Cancel</button>" in content) is can_cancel
    # Only a sending in progress polls; the re-rendered row of any other stops polling.
    assert ('hx-trigger="every 2s"' in content) is (status == "sending")
    assert ("<progress" in content) is (status == "sending")


@pytest.mark.parametrize(("persona", "may_act"), MEMBERS)
def test_detail_page_shows_the_timeline_and_cancels_only_to_a_marketer(
    as_persona, may_act, any_sending, status
):
    response = as_persona.get(reverse("sending_detail", args=[any_sending.identifier]))

    assert response.status_code == 200
    content = html(response)
    assert f"<h1>{any_sending.name}</h1>" in content
    assert f">{BADGE[status]}</span>" in content
    assert "Timeline" in content
    if status != "draft":
        assert "Batch 3" in content
        assert "Confirmed" in content  # the first event of the timeline
    assert ("Yes, cancel sending" in content) is (may_act and status == "scheduled")
    assert ("Cancel batch 3" in content) is (may_act and status in ("scheduled", "sending"))


@pytest.mark.parametrize(("persona", "may_act"), MEMBERS)
def test_batches_page_and_fragment_offer_batch_cancel_only_to_a_marketer(
    as_persona, may_act, any_sending, status
):
    url = reverse("sending_batches", args=[any_sending.identifier])
    page = as_persona.get(url)
    fragment = as_persona.get(url, **HTMX)

    assert (page.status_code, fragment.status_code) == (200, 200)
    assert "<html" in html(page) and "<html" not in html(fragment)
    content = html(fragment)
    assert 'id="batches-title"' in content
    if status == "draft":
        assert "it gets its batches when it is scheduled" in content
        return
    assert f'aria-label="Batches of {any_sending.name}"' in content
    assert all(f"Batch {n}</th>" in content for n in (1, 2, 3))
    scheduled = list(
        any_sending.batches.filter(status="scheduled").values_list("number", flat=True)
    )
    for number in (1, 2, 3):
        shown = f">Cancel batch {number}</button>" in content
        assert shown is (may_act and number in scheduled), number


# --- Every status: what a marketer's cancel does ---------------------------------------------

# A marketer's cancel of the sending, per status: (status after, message level).
CANCEL_OUTCOMES = [
    pytest.param("draft", "draft", "error", id="draft-is-refused"),
    pytest.param("scheduled", "canceled", "success", id="scheduled-is-canceled"),
    pytest.param("sending", "sending", "error", id="sending-is-refused"),
    pytest.param("sent", "sent", "error", id="sent-is-refused"),
    pytest.param("canceled", "canceled", "success", id="canceled-again-is-a-no-op"),
]


@pytest.mark.parametrize(("status", "after", "level"), CANCEL_OUTCOMES)
def test_cancel_redirects_back_with_the_outcome(
    client, marketer, any_sending, status, after, level, subaccount
):
    client.force_login(marketer)
    back = reverse("sending_list", args=[subaccount.pk]) + "?status=scheduled"

    response = client.post(reverse("sending_cancel", args=[any_sending.identifier]), {"next": back})

    assert (response.status_code, response.url) == (302, back)
    assert status_of(any_sending) == after
    messages = list(get_messages(response.wsgi_request))
    assert [m.level_tag for m in messages] == [level]


@pytest.mark.parametrize(("status", "after", "level"), CANCEL_OUTCOMES)
def test_cancel_from_htmx_answers_with_the_fresh_row_and_the_outcome(
    client, marketer, any_sending, status, after, level
):
    client.force_login(marketer)

    response = client.post(reverse("sending_cancel", args=[any_sending.identifier]), **HTMX)

    assert response.status_code == (409 if level == "error" else 200)
    content = html(response)
    # The fresh row replaces the old one; the message travels beside it, out of band.
    assert content.strip().startswith(f'<tr id="row-{any_sending.identifier}"')
    assert f">{BADGE[after]}</span>" in content
    assert 'id="messages" class="messages" hx-swap-oob="true"' in content
    assert f'class="message message-{level}"' in content
    assert "sendingChanged" in response.headers["HX-Trigger"]


# A marketer's cancel of batch 3, per status of the sending: (HTTP, batch 3 after, level).
BATCH_CANCEL_OUTCOMES = [
    pytest.param("scheduled", 200, "canceled", "success", id="scheduled-batch-is-canceled"),
    # Batch 1 is being sent; batch 3 is still scheduled.
    pytest.param("sending", 200, "canceled", "success", id="batch-not-started-is-canceled"),
    pytest.param("sent", 409, "sent", "error", id="sent-batch-is-refused"),
    pytest.param("canceled", 200, "canceled", "success", id="canceled-batch-again-is-a-no-op"),
]


@pytest.mark.parametrize(("status", "code", "after", "level"), BATCH_CANCEL_OUTCOMES)
def test_batch_cancel_redirects_and_from_htmx_refreshes_the_dialog_and_row(
    client, marketer, any_sending, status, code, after, level
):
    client.force_login(marketer)
    url = reverse("batch_cancel", args=[any_sending.identifier, 3])

    plain = client.post(url)

    assert plain.status_code == 302
    assert plain.url == reverse("sending_batches", args=[any_sending.identifier])
    assert batch_status(any_sending, 3) == after
    assert [m.level_tag for m in get_messages(plain.wsgi_request)] == [level]

    again = client.post(url, **HTMX)  # the same click once more, now through htmx
    assert again.status_code == code
    content = html(again)
    assert f'id="batch-{any_sending.identifier}-3"' in content
    assert f'class="message message-{level}"' in content
    # The list row beside the dialog is refreshed out of band.
    row = f'<tr id="row-{any_sending.identifier}" class="row row-{status_of(any_sending)}"'
    assert row + ' hx-swap-oob="true"' in content
    assert "sendingChanged" in again.headers["HX-Trigger"]


def test_batch_cancel_of_a_draft_is_404_it_has_no_batches(client, marketer, subaccount):
    draft = sending_in("draft", subaccount, name="Campaign draft")
    client.force_login(marketer)

    response = client.post(reverse("batch_cancel", args=[draft.identifier, 3]))

    assert response.status_code == 404


# --- Actions in detail -----------------------------------------------------------------------


def test_cancel_answers_409_with_the_message_when_the_sending_just_started(
    client, marketer, subaccount
):
    sending = sending_in("scheduled", subaccount, name="Started a second ago")
    # The page still shows Cancel; meanwhile the dispatcher starts the first batch.
    first = sending.batches.get(number=1)
    from batches import services as batch_services

    batch_services.batch_start(batch_id=first.pk, now=first.scheduled_at)
    client.force_login(marketer)

    response = client.post(reverse("sending_cancel", args=[sending.identifier]), **HTMX)

    assert response.status_code == 409
    content = html(response)
    assert "is being sent right now" in content
    assert 'role="alert"' in content
    assert ">Sending</span>" in content and 'hx-trigger="every 2s"' in content
    assert status_of(sending) == "sending"


def test_refused_plain_post_redirects_with_the_error(client, marketer, subaccount):
    sending = sending_in("sent", subaccount, name="Gone out")
    client.force_login(marketer)

    response = client.post(reverse("sending_cancel", args=[sending.identifier]), follow=True)

    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == reverse("sending_list", args=[subaccount.pk])
    content = html(response)
    assert "has already been sent; there is nothing left to cancel" in content
    assert 'class="message message-error" role="alert"' in content


def test_double_click_cancels_once_and_says_so(client, marketer, subaccount):
    sending = sending_in("scheduled", subaccount)
    client.force_login(marketer)
    url = reverse("sending_cancel", args=[sending.identifier])

    first = client.post(url, **HTMX)
    second = client.post(url, **HTMX)

    assert (first.status_code, second.status_code) == (200, 200)
    assert "was canceled" in html(first)
    assert "was already canceled" in html(second)
    assert sending.events.filter(kind="canceled").count() == 1


def test_cancel_ignores_a_next_pointing_elsewhere(client, marketer, subaccount):
    sending = sending_in("scheduled", subaccount)
    client.force_login(marketer)

    response = client.post(
        reverse("sending_cancel", args=[sending.identifier]), {"next": "https://evil.example/"}
    )

    assert response.url == reverse("sending_list", args=[subaccount.pk])


def test_cancel_get_shows_a_plain_confirmation_page(client, marketer, viewer, subaccount):
    sending = sending_in("scheduled", subaccount, name="Spring sale")
    url = reverse("sending_cancel", args=[sending.identifier])
    client.force_login(marketer)

    content = html(client.get(url))

    assert "<html" in content
    assert "Cancel “Spring sale”?" in content
    assert "Yes, cancel sending" in content and "hx-post" not in content
    assert status_of(sending) == "scheduled"
    client.force_login(viewer)
    assert client.get(url).status_code == 403


def test_cancel_get_from_htmx_fills_the_confirmation_dialog(client, marketer, subaccount):
    sending = sending_in("scheduled", subaccount, name="Spring sale")
    started = sending_in("sending", subaccount, name="Under way")
    client.force_login(marketer)

    content = html(client.get(reverse("sending_cancel", args=[sending.identifier]), **HTMX))
    too_late = html(client.get(reverse("sending_cancel", args=[started.identifier]), **HTMX))

    assert "<html" not in content
    assert 'id="confirm-title"' in content and "Cancel “Spring sale”?" in content
    assert f'hx-target="#row-{sending.identifier}"' in content
    assert 'commandfor="confirm-dialog" command="close">Keep it</button>' in content
    assert ">Yes, cancel sending</button>" in content
    # Fresh content: a sending that started meanwhile is explained, not offered.
    assert "“Under way” can't be canceled" in too_late
    assert "Yes, cancel sending" not in too_late


def test_batch_cancel_in_the_dialog_updates_dialog_and_row(client, marketer, subaccount):
    sending = sending_in("scheduled", subaccount, name="In batches")
    client.force_login(marketer)

    response = client.post(
        reverse("batch_cancel", args=[sending.identifier, 2]),
        HTTP_HX_CURRENT_URL="http://testserver"
        + reverse("sending_list", args=[subaccount.pk])
        + "?q=batch",
        **HTMX,
    )

    content = html(response)
    assert response.status_code == 200
    assert "Batch 2 was canceled; its 2 contacts will not receive the sending." in content
    assert ">Cancel batch 1</button>" in content and ">Cancel batch 2</button>" not in content
    row = content[content.index("<template>") :]
    assert f'<tr id="row-{sending.identifier}"' in row and 'hx-swap-oob="true"' in row
    # The row's no-JS forms still lead back to the page the user is on.
    assert "?q=batch" in row
    assert batch_status(sending, 2) == "canceled" and status_of(sending) == "scheduled"


def test_batch_cancel_of_an_unknown_batch_is_404(client, marketer, subaccount):
    sending = sending_in("scheduled", subaccount)
    client.force_login(marketer)

    response = client.post(reverse("batch_cancel", args=[sending.identifier, 9]))

    assert response.status_code == 404


def test_canceling_every_batch_cancels_the_sending(client, marketer, subaccount):
    sending = sending_in("scheduled", subaccount)
    client.force_login(marketer)

    for number in (1, 2, 3):
        client.post(reverse("batch_cancel", args=[sending.identifier, number]))

    assert status_of(sending) == "canceled"


def test_get_is_not_allowed_on_batch_cancel(client, marketer, subaccount):
    sending = sending_in("scheduled", subaccount)
    client.force_login(marketer)

    response = client.get(reverse("batch_cancel", args=[sending.identifier, 1]))

    assert response.status_code == 405
    assert batch_status(sending, 1) == "scheduled"


# --- Home, shell, switcher -------------------------------------------------------------------


def test_home_goes_to_the_first_subaccount_by_account_then_name(client, marketer, subaccount):
    earlier = MembershipFactory(
        user=marketer, subaccount__name="Andorra", subaccount__account=subaccount.account
    ).subaccount
    MembershipFactory(user=marketer, subaccount__account__name="Zeta Corp")
    client.force_login(marketer)

    response = client.get(reverse("home"))

    assert response.url == reverse("sending_list", args=[earlier.pk])


def test_home_without_subaccount_is_a_friendly_page(client):
    client.force_login(UserFactory())

    response = client.get(reverse("home"))

    assert response.status_code == 200
    assert "not a member of any subaccount" in html(response)


def test_the_shell_shows_account_identifier_and_switcher(client, marketer, subaccount):
    other = MembershipFactory(user=marketer, subaccount__name="Mexico").subaccount
    client.force_login(marketer)

    content = html(client.get(reverse("sending_list", args=[subaccount.pk])))

    identifier = subaccount.account.identifier
    assert re.search(
        rf'<span class="account-name" tabindex="0" title="{identifier}"[^>]*>Acme Marketing<',
        content,
    )
    assert 'role="tooltip" id="account-tooltip"' in content
    assert 'popovertarget="subaccount-switcher"' in content
    assert reverse("sending_list", args=[other.pk]) in content
    assert "<script" in content and "htmx" in content
    assert '"includeIndicatorStyles": false' in content
    assert 'hx-headers=\'{"x-csrftoken": ' in content
    assert ' style="' not in content and "<style" not in content  # the CSP allows neither


def test_a_user_in_one_subaccount_has_no_switcher(client, marketer, subaccount):
    client.force_login(marketer)

    content = html(client.get(reverse("sending_list", args=[subaccount.pk])))

    assert 'popovertarget="subaccount-switcher"' not in content


# --- Filters, search, sort, pages ------------------------------------------------------------


@pytest.fixture
def mixed(subaccount):
    return {status: sending_in(status, subaccount, name=f"Mixed {status}") for status in STATUSES}


def names_in(response) -> list[str]:
    return re.findall(r'class="row-link" href="[^"]+">([^<]+)</a>', html(response))


def test_status_tabs_filter_and_count(client, marketer, subaccount, mixed):
    client.force_login(marketer)
    url = reverse("sending_list", args=[subaccount.pk])

    everything = client.get(url)
    scheduled = client.get(url, {"status": "scheduled"})

    assert sorted(names_in(everything)) == sorted(s.name for s in mixed.values())
    assert names_in(scheduled) == ["Mixed scheduled"]
    content = html(scheduled)
    assert re.search(r'aria-current="page">\s*<span class="dot dot-scheduled"', content)
    assert re.search(r'All <span class="tab-count">5</span>', content)
    assert re.search(r'Sent <span class="tab-count">1</span>', content)
    # The search form keeps the tab.
    assert '<input type="hidden" name="status" value="scheduled" form="sending-search">' in content


def test_a_bad_parameter_falls_back_to_its_default(client, marketer, subaccount, mixed):
    client.force_login(marketer)
    url = reverse("sending_list", args=[subaccount.pk])

    response = client.get(url, {"status": "bogus", "sort": "name", "page": "x"})

    assert response.status_code == 200
    assert len(names_in(response)) == 5


def test_search_by_name_or_identifier(client, marketer, subaccount, mixed):
    client.force_login(marketer)
    url = reverse("sending_list", args=[subaccount.pk])
    sent = mixed["sent"]

    assert sorted(names_in(client.get(url, {"q": "mixed SEN"}))) == ["Mixed sending", "Mixed sent"]
    assert names_in(client.get(url, {"q": sent.identifier.lower()})) == ["Mixed sent"]
    assert names_in(client.get(url, {"q": sent.identifier[:8]})) != []
    assert sent.name in names_in(client.get(url, {"q": sent.identifier[:8]}))
    assert names_in(client.get(url, {"q": "nothing like it"})) == []
    assert "No sending matches “nothing like it”" in html(client.get(url, {"q": "nothing like it"}))
    assert names_in(client.get(url, {"q": "mixed", "status": "canceled"})) == ["Mixed canceled"]


def test_sort_by_schedule_both_ways(client, marketer, subaccount):
    now = timezone.now()
    for days, name in ((3, "Third"), (1, "First"), (2, "Second")):
        sending = scheduled_sending(subaccount, first_at=now + timedelta(days=days))
        Sending.objects.filter(pk=sending.pk).update(name=name)
    SendingFactory(subaccount=subaccount, name="Draft")
    client.force_login(marketer)
    url = reverse("sending_list", args=[subaccount.pk])

    newest_first = client.get(url)
    oldest_first = client.get(url, {"sort": "scheduled"})

    assert names_in(newest_first) == ["Draft", "Third", "Second", "First"]
    assert names_in(oldest_first) == ["First", "Second", "Third", "Draft"]
    assert 'aria-sort="ascending"' in html(oldest_first)
    assert f'href="{url}?"' in html(oldest_first)  # the header link turns it back


def test_pages_of_fifty_keep_the_other_parameters(client, marketer, subaccount):
    SendingFactory.create_batch(60, subaccount=subaccount)
    client.force_login(marketer)
    url = reverse("sending_list", args=[subaccount.pk])

    first = client.get(url, {"status": "draft", "sort": "scheduled"})
    second = client.get(url, {"status": "draft", "sort": "scheduled", "page": 2})

    assert (len(names_in(first)), len(names_in(second))) == (50, 10)
    assert not set(names_in(first)) & set(names_in(second))
    assert "1\N{EN DASH}50 of 60" in html(first) and "Page 1 of 2" in html(first)
    assert f'href="{url}?status=draft&amp;sort=scheduled&amp;page=2"' in html(first)
    assert "51\N{EN DASH}60 of 60" in html(second)
    assert f'href="{url}?status=draft&amp;sort=scheduled"' in html(second)  # back to page 1


def test_htmx_gets_the_results_or_the_tabs_alone(client, marketer, subaccount, mixed):
    client.force_login(marketer)
    url = reverse("sending_list", args=[subaccount.pk])

    results = client.get(url, {"status": "sent"}, HTTP_HX_TARGET="results", **HTMX)
    tabs = client.get(url, HTTP_HX_TARGET="status-tabs", **HTMX)
    page = client.get(url, HTTP_HX_TARGET="results", HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HTMX)

    assert html(results).strip().startswith('<div id="results"')
    assert names_in(results) == ["Mixed sent"]
    assert 'hx-push-url="true"' in html(results)
    assert html(tabs).strip().startswith('<nav id="status-tabs"')
    assert 'hx-trigger="sendingChanged from:body"' in html(tabs)
    assert "<html" in html(page)
    assert "HX-Request" in results.headers["Vary"]


def test_row_indicators(client, marketer, subaccount):
    in_batches = scheduled_sending(subaccount, contacts=12, sizes=[4, 4, None])
    single = scheduled_sending(subaccount, contacts=5)
    client.force_login(marketer)

    content = html(client.get(reverse("sending_list", args=[subaccount.pk])))

    assert "3 batches · 12 contacts" in content
    assert "0 / 12" in content and "0 / 5" in content
    assert f'aria-label="View batches of {single.name}"' in content
    assert f'aria-label="View batches of {in_batches.name}"' in content


def test_times_are_shown_in_the_subaccounts_time_zone(client, marketer, subaccount):
    # 08:00 UTC in summer is 10:00 in Madrid.
    at = timezone.datetime(2031, 7, 1, 8, 0, tzinfo=timezone.UTC)
    scheduled_sending(subaccount, first_at=at)
    client.force_login(marketer)

    content = html(client.get(reverse("sending_list", args=[subaccount.pk])))

    assert "1 Jul 2031, 10:00" in content


# --- The number of queries does not grow with rows or batches --------------------------------


def list_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_list_page_queries_do_not_grow_with_rows_or_batches(
    client, marketer, subaccount, django_assert_num_queries
):
    client.force_login(marketer)
    url = reverse("sending_list", args=[subaccount.pk])
    for _ in range(10):
        scheduled_sending(subaccount, contacts=1)
    client.get(url)  # the first visit remembers the subaccount in the session (a write)
    baseline = list_queries(client, url)
    assert baseline <= 7  # one of them reads the session (in the database: no Redis needed)

    for _ in range(40):  # 50 rows of one batch
        scheduled_sending(subaccount, contacts=1)
    with django_assert_num_queries(baseline):
        client.get(url)

    Sending.objects.all().delete()
    for _ in range(10):  # 10 rows of 10 batches
        scheduled_sending(subaccount, contacts=10, sizes=[1] * 9 + [None])
    with django_assert_num_queries(baseline):
        client.get(url)
    for _ in range(40):  # 50 rows of 10 batches
        scheduled_sending(subaccount, contacts=10, sizes=[1] * 9 + [None])
    with django_assert_num_queries(baseline):
        response = client.get(url)
    assert html(response).count("10 batches · 10 contacts") == 50


def test_status_counts_above_the_cap_say_more_than(client, marketer, subaccount, monkeypatch):
    from sendings.pages import selectors

    monkeypatch.setattr(selectors, "COUNT_CAP", 3)
    SendingFactory.create_batch(5, subaccount=subaccount)
    sending_in("sent", subaccount)
    client.force_login(marketer)
    url = reverse("sending_list", args=[subaccount.pk])

    content = html(client.get(url))

    assert re.search(r'Draft <span class="tab-count">3\+</span>', content)
    assert re.search(r'Sent <span class="tab-count">1</span>', content)
    assert re.search(r'All <span class="tab-count">3\+</span>', content)
    assert "of 6" not in content and "Page 1 of" not in content  # the total is unknown
