"""The "New sending" wizard: six steps saved to the Draft, validation, confirm,
"Send now", test sends and Duplicate. Plain requests: every page works without JavaScript."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.core import mail
from django.urls import reverse

from batches.models import Batch
from sendings.exceptions import DomainError
from sendings.models import Contact, ListMembership, Sending
from sendings.wizard import services
from tests.factories import (
    ContactFactory,
    SendingFactory,
    contact_list_with,
    scheduled_sending,
)

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
STEPS = ["details", "design", "text", "test", "contacts", "schedule"]
# A fixed "now" for schedule tests: Friday 27 November 2026, 10:00 in Madrid (UTC+1).
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def url(sending: Sending, step: str) -> str:
    return reverse(f"wizard_{step}", args=[sending.identifier])


def html(response) -> str:
    return response.content.decode()


def flash(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def fresh(sending: Sending) -> Sending:
    return Sending.objects.get(pk=sending.pk)


@pytest.fixture
def as_marketer(client, marketer):
    client.force_login(marketer)
    return client


@pytest.fixture
def spring(subaccount):
    return contact_list_with(subaccount, 6, name="Spring")


@pytest.fixture
def draft(subaccount, marketer, spring):
    sending = SendingFactory(subaccount=subaccount, name="Spring sale", created_by=marketer)
    sending.lists.add(spring)
    return sending


def schedule(client, sending, **data):
    """POST step 6 with Confirm; lists become repeated fields."""
    body = {"nav": "confirm", **data}
    return client.post(url(sending, "schedule"), body)


# --- Who may use it ------------------------------------------------------------------------------


def test_new_sending_button_is_for_marketers_only(client, marketer, viewer, subaccount):
    list_url = reverse("sending_list", args=[subaccount.pk])
    client.force_login(marketer)
    assert "New sending" in html(client.get(list_url))
    client.force_login(viewer)
    assert "New sending" not in html(client.get(list_url))


def test_viewers_get_403_on_every_wizard_page(client, viewer, draft, subaccount):
    client.force_login(viewer)
    new = reverse("sending_new", args=[subaccount.pk])
    assert client.get(new).status_code == 403
    assert client.post(new, {"name": "x"}).status_code == 403
    for step in STEPS:
        assert client.get(url(draft, step)).status_code == 403
        assert client.post(url(draft, step), {"nav": "next"}).status_code == 403
    duplicate = reverse("sending_duplicate", args=[draft.identifier])
    assert client.post(duplicate).status_code == 403
    assert client.get(reverse("sending_edit", args=[draft.identifier])).status_code == 403
    assert client.get(reverse("wizard_audience", args=[draft.identifier])).status_code == 403
    assert Sending.objects.count() == 1


def test_anonymous_users_are_sent_to_log_in(client, draft, subaccount):
    pages = [reverse("sending_new", args=[subaccount.pk])] + [url(draft, s) for s in STEPS]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login") + "?next=")


def test_another_subaccounts_sending_is_404(client, outsider, draft, subaccount):
    client.force_login(outsider)
    assert client.get(reverse("sending_new", args=[subaccount.pk])).status_code == 404
    for step in STEPS:
        assert client.get(url(draft, step)).status_code == 404
        assert client.post(url(draft, step), {"nav": "next", "name": "Mine"}).status_code == 404
    assert client.post(reverse("sending_duplicate", args=[draft.identifier])).status_code == 404
    assert fresh(draft).name == "Spring sale"


# --- Step 1: Details -----------------------------------------------------------------------------


def test_first_next_creates_the_draft_and_opens_design(as_marketer, subaccount, marketer):
    response = as_marketer.post(
        reverse("sending_new", args=[subaccount.pk]),
        {"name": "Black Friday", "subject": "50% off", "from_name": "Acme",
         "from_email": "News@Acme.example", "nav": "next"},
    )  # fmt: skip

    sending = Sending.objects.get()
    assert response.status_code == 302 and response.url == url(sending, "design")
    assert (sending.name, sending.subject, sending.status) == ("Black Friday", "50% off", "draft")
    assert sending.from_email.lower() == "news@acme.example"
    assert sending.created_by == marketer and sending.subaccount == subaccount
    page = html(as_marketer.get(url(sending, "design")))
    assert 'aria-current="step"' in page and "2. Design" in page


def test_details_are_checked_at_the_field_and_nothing_is_saved(as_marketer, subaccount):
    response = as_marketer.post(
        reverse("sending_new", args=[subaccount.pk]),
        {"name": "Black Friday", "subject": "", "from_email": "not-an-address", "nav": "next"},
    )

    assert response.status_code == 200
    page = html(response)
    assert "Write a subject." in page
    assert "Enter a valid email address, such as news@example.com." in page
    assert 'aria-invalid="true"' in page
    assert Sending.objects.count() == 0


def test_step_indicator_is_an_ordered_list_with_the_current_step(as_marketer, draft):
    page = html(as_marketer.get(url(draft, "contacts")))
    steps = re.search(r'<ol class="wizard-steps">(.*?)</ol>', page, re.S).group(1)
    assert steps.count("<li") == 6
    current = re.findall(r'<li[^>]*aria-current="step"[^>]*>(.*?)</li>', steps, re.S)
    assert len(current) == 1 and "Contacts" in current[0]


# --- Going back and forth keeps what was typed ---------------------------------------------------


def test_drafts_survive_going_back_and_forth(as_marketer, subaccount, spring):
    as_marketer.post(
        reverse("sending_new", args=[subaccount.pk]),
        {"name": "Autumn", "subject": "Leaves", "from_email": "a@acme.example", "nav": "next"},
    )
    sending = Sending.objects.get()
    body = '<p>Hi {{ name }}, see <a href="https://acme.example/autumn">the offers</a></p>'
    response = as_marketer.post(url(sending, "design"), {"html_body": body, "nav": "next"})
    assert response.url == url(sending, "text")
    generated = html(as_marketer.get(url(sending, "text")))
    assert "Hi {{ name }}, see the offers (https://acme.example/autumn)" in generated
    as_marketer.post(url(sending, "text"), {"text_body": "Hi {{ name }}!", "nav": "next"})
    as_marketer.post(url(sending, "test"), {"nav": "next"})
    as_marketer.post(url(sending, "contacts"), {"lists": [spring.pk], "nav": "next"})
    as_marketer.post(
        url(sending, "schedule"),
        {"nav": "back", "mode": "at", "date": "2026-12-24", "time": "09:30"},
    )

    # Back, step by step: every page shows what was saved.
    schedule_page = html(as_marketer.get(url(sending, "schedule")))
    assert 'value="2026-12-24"' in schedule_page and 'value="09:30"' in schedule_page
    assert re.search(r'<input type="radio" name="mode" value="at"[^>]*checked', schedule_page)
    contacts_page = html(as_marketer.get(url(sending, "contacts")))
    assert re.search(rf'value="{spring.pk}"[^>]*checked', contacts_page)
    assert "Hi {{ name }}!" in html(as_marketer.get(url(sending, "text")))
    assert "https://acme.example/autumn" in html(as_marketer.get(url(sending, "design")))
    details = html(as_marketer.get(url(sending, "details")))
    assert 'value="Autumn"' in details and 'value="Leaves"' in details


def test_back_saves_without_insisting_on_required_fields(as_marketer, draft):
    response = as_marketer.post(url(draft, "design"), {"html_body": "", "nav": "back"})

    assert response.status_code == 302 and response.url == url(draft, "details")
    assert fresh(draft).html_body == ""


def test_next_insists_on_the_step_fields(as_marketer, draft):
    response = as_marketer.post(url(draft, "design"), {"html_body": " ", "nav": "next"})

    assert response.status_code == 200
    assert "Write the message (its HTML)." in html(response)
    assert fresh(draft).html_body == "<p>Hello {{ name }}</p>"


# --- Step 2: Design: a sandboxed preview ---------------------------------------------------------


def test_design_preview_is_a_sandboxed_srcdoc_that_cannot_run_scripts(as_marketer, draft):
    Sending.objects.filter(pk=draft.pk).update(
        html_body='<p style="color:red">Hi</p><script>alert("x")</script>'
    )

    response = as_marketer.get(url(draft, "design"))

    iframe = re.search(r"<iframe[^>]*>", html(response)).group(0)
    assert re.search(r"\bsandbox\b(?!=)", iframe), "sandbox with no allow-* tokens"
    assert 'srcdoc="&lt;p style=&quot;color:red&quot;&gt;Hi&lt;/p&gt;&lt;script&gt;' in iframe
    policy = response.headers["Content-Security-Policy"]
    assert (
        "script-src 'self' 'nonce-" in policy
        and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    )
    assert "frame-ancestors 'none'" in policy


# --- Step 3: Text version ------------------------------------------------------------------------


def test_text_version_is_generated_on_first_visit_and_can_be_regenerated(as_marketer, draft):
    Sending.objects.filter(pk=draft.pk).update(
        text_body="",
        html_body="<h1>Hello {{ name }}</h1><p>Read <a href='https://a.example/x?a=1&amp;b=2'>"
        "more</a>.</p><ul><li>One</li></ul><script>evil()</script>",
    )
    page = html(as_marketer.get(url(draft, "text")))
    assert "Hello {{ name }}\n\nRead more (https://a.example/x?a=1&amp;b=2).\n\n- One" in page
    assert "evil" not in page
    assert fresh(draft).text_body == ""  # shown, saved only by Next

    as_marketer.post(url(draft, "text"), {"text_body": "Mine", "nav": "next"})
    assert fresh(draft).text_body == "Mine"
    again = html(as_marketer.post(url(draft, "text"), {"nav": "regenerate"}))
    assert "Read more (https://a.example/x?a=1&amp;b=2)" in again


# --- Step 4: Test --------------------------------------------------------------------------------


def test_test_send_is_personalized_marked_and_changes_nothing(
    as_marketer, draft, subaccount, eager_tasks, django_capture_on_commit_callbacks
):
    ContactFactory(subaccount=subaccount, email="ana@example.org", name="Ana")

    with django_capture_on_commit_callbacks(execute=True) as queued:
        response = as_marketer.post(
            url(draft, "test"),
            {"addresses": "ana@example.org, Bob@Example.org", "nav": "send_test"},
        )
        assert mail.outbox == [], "the request sent it itself: it must be left to a task"

    assert len(queued) == 1

    assert response.status_code == 302
    assert "Test sent to ana@example.org, bob@example.org." in flash(response)
    by_address = {m.to[0]: m for m in mail.outbox}
    assert set(by_address) == {"Ana <ana@example.org>", "bob <bob@example.org>"}
    ana = by_address["Ana <ana@example.org>"]
    assert ana.subject == "[Test] Our spring offers"
    assert ana.body == "Hello Ana"
    assert ana.alternatives[0][0] == "<p>Hello Ana</p>"
    assert fresh(draft).status == "draft"
    assert not Batch.objects.exists()


def test_test_send_is_checked(as_marketer, draft):
    six = ", ".join(f"p{i}@example.org" for i in range(6))
    too_many = as_marketer.post(url(draft, "test"), {"addresses": six, "nav": "send_test"})
    invalid = as_marketer.post(url(draft, "test"), {"addresses": "x@", "nav": "send_test"})

    assert "A test goes to at most 5 addresses; you gave 6." in html(too_many)
    assert "Not valid email addresses: “x@”." in html(invalid)
    assert mail.outbox == []


def test_test_sends_are_limited_per_user(
    as_marketer, draft, settings, eager_tasks, django_capture_on_commit_callbacks
):
    settings.TEST_SENDS_PER_HOUR = 2
    data = {"addresses": "ana@example.org", "nav": "send_test"}

    with django_capture_on_commit_callbacks(execute=True):
        sent = [as_marketer.post(url(draft, "test"), data) for _ in range(3)]

    assert [response.status_code for response in sent] == [302, 302, 429]
    assert "You have sent 2 tests in the last hour" in html(sent[2])
    assert len(mail.outbox) == 2


# --- Step 5: Contacts ----------------------------------------------------------------------------


def test_audience_count_leaves_out_unsubscribed_and_duplicates(as_marketer, draft, subaccount):
    spring = draft.lists.get()
    autumn = contact_list_with(subaccount, 3, name="Autumn")
    # Two of Spring's contacts are on Autumn too; one of them has unsubscribed.
    shared = list(Contact.objects.filter(listmembership__contact_list=spring).order_by("id")[:2])
    ListMembership.objects.bulk_create(
        ListMembership(contact_list=autumn, contact=c) for c in shared
    )
    Contact.objects.filter(pk=shared[0].pk).update(unsubscribed=True)

    response = as_marketer.get(
        reverse("wizard_audience", args=[draft.identifier]),
        {"lists": [spring.pk, autumn.pk]},
        **HTMX,
    )

    assert response.status_code == 200
    assert re.search(r"<strong>8</strong> contacts will receive it", html(response))  # 6+3+1-2
    assert "<html" not in html(response)


def test_a_list_of_another_subaccount_is_refused_and_never_used(
    as_marketer, draft, other_subaccount
):
    foreign = contact_list_with(other_subaccount, 4, name="Theirs")

    response = as_marketer.post(url(draft, "contacts"), {"lists": [foreign.pk], "nav": "next"})
    count = as_marketer.get(
        reverse("wizard_audience", args=[draft.identifier]), {"lists": [foreign.pk]}, **HTMX
    )

    assert response.status_code == 200
    assert f"List {foreign.pk} is not one of this subaccount&#x27;s lists." in html(response)
    assert list(fresh(draft).lists.all()) == [draft.lists.get()]
    assert "Theirs" not in html(response)
    assert "<strong>0</strong>" in html(count)


def test_contacts_needs_a_list_with_somebody_to_send_to(as_marketer, draft, subaccount):
    empty = contact_list_with(subaccount, 0, name="Empty")

    none = as_marketer.post(url(draft, "contacts"), {"nav": "next"})
    nobody = as_marketer.post(url(draft, "contacts"), {"lists": [empty.pk], "nav": "next"})

    assert "Choose at least one list." in html(none)
    assert "Nobody to send to: these lists are empty" in html(nobody)
    assert [lst.name for lst in fresh(draft).lists.all()] == ["Spring"]


# --- Step 6: Schedule sending --------------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_send_now_is_one_batch_after_the_undo_delay(as_marketer, draft, settings):
    settings.UNDO_SECONDS = 30

    response = schedule(as_marketer, draft, mode="now")

    assert response.status_code == 302
    assert response.url == reverse("sending_detail", args=[draft.identifier])
    sending = fresh(draft)
    assert sending.status == "scheduled" and sending.total_recipients == 6
    (batch,) = Batch.objects.filter(sending=sending)
    assert batch.scheduled_at == NOW + timedelta(seconds=30)
    assert batch.recipient_count == 6
    detail = html(as_marketer.get(response.url))
    assert "Sending in" in detail and "30 s</time>" in detail
    assert "Cancel sending" in detail


@time_machine.travel(NOW, tick=False)
def test_schedule_sending_at_a_local_time(as_marketer, draft):
    response = schedule(as_marketer, draft, mode="at", date="2026-12-01", time="08:15")

    assert response.url == reverse("sending_list", args=[draft.subaccount_id])
    sending = fresh(draft)
    assert sending.status == "scheduled"
    assert sending.scheduled_at == datetime(2026, 12, 1, 7, 15, tzinfo=UTC)  # Madrid is UTC+1
    assert sending.schedule_draft["mode"] == "at"


@time_machine.travel(NOW, tick=False)
def test_a_time_in_the_past_is_refused(as_marketer, draft):
    response = schedule(as_marketer, draft, mode="at", date="2026-11-27", time="09:59")

    assert response.status_code == 200
    assert "27 Nov 2026 09:59 is in the past (it is now 27 Nov 2026 10:00 in Europe/Madrid)" in (
        html(response)
    )
    assert fresh(draft).status == "draft"


@time_machine.travel(NOW, tick=False)
def test_a_time_skipped_by_daylight_saving_is_refused(as_marketer, draft):
    response = schedule(as_marketer, draft, mode="at", date="2027-03-28", time="02:30")

    assert "28 March 2027 02:30 does not exist in Europe/Madrid (clocks go forward)." in html(
        response
    )
    assert fresh(draft).status == "draft"


@time_machine.travel(NOW, tick=False)
def test_a_time_that_happens_twice_is_its_first_occurrence(as_marketer, draft):
    schedule(as_marketer, draft, mode="at", date="2027-10-31", time="02:30")

    # 02:30 on 31 October 2027 happens at +02:00 (summer time), then again at +01:00.
    assert fresh(draft).scheduled_at == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)


def rows(*batches):
    """POST data for "Send in batches": (date, time, count) per row."""
    return {
        "mode": "batches",
        "batch_date": [b[0] for b in batches],
        "batch_time": [b[1] for b in batches],
        "batch_count": [str(b[2]) for b in batches],
    }


@time_machine.travel(NOW, tick=False)
def test_send_in_batches(as_marketer, draft):
    response = schedule(
        as_marketer,
        draft,
        **rows(("2026-12-01", "09:00", 2), ("2026-12-01", "10:00", 3), ("2026-12-02", "09:00", 1)),
    )

    assert response.url == reverse("sending_list", args=[draft.subaccount_id])
    assert "“Spring sale” is scheduled for 6 contacts in 3 batches." in flash(response)
    sending = fresh(draft)
    assert (sending.status, sending.batch_count, sending.total_recipients) == ("scheduled", 3, 6)
    batches = list(Batch.objects.filter(sending=sending).order_by("number"))
    assert [b.recipient_count for b in batches] == [2, 3, 1]
    assert [b.recipients.count() for b in batches] == [2, 3, 1]
    assert batches[1].scheduled_at == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    page = html(as_marketer.get(response.url))
    assert "3 batches · 6 contacts" in page


@pytest.mark.parametrize(
    ("batches", "message"),
    [
        (
            [("2026-12-01", "10:00", 3), ("2026-12-01", "09:00", 3)],
            "Batch 2: Batch 2 must go out after batch 1 (1 Dec 2026 10:00).",
        ),
        (
            [("2026-12-01", "09:00", 3), ("2026-12-01", "10:00", 2)],
            "The batches add up to 5 contacts but the audience has 6.",
        ),
        (
            [("2026-12-01", "09:00", 6), ("2026-12-01", "10:00", 0)],
            "Batch 2: A batch needs at least 1 contact.",
        ),
        (
            [(f"2026-12-0{day}", "09:00", 1) for day in range(1, 8)],
            "7 batches for 6 contacts: every batch needs at least one contact.",
        ),
        (
            [("2026-11-26", "09:00", 3), ("2026-12-01", "10:00", 3)],
            "Batch 1: 26 Nov 2026 09:00 is in the past",
        ),
        (
            [("", "09:00", 3), ("2026-12-01", "", 3)],
            "Batch 1: Choose a date.",
        ),
        (
            [("2027-03-27", "09:00", 3), ("2027-03-28", "02:30", 3)],
            "Batch 2: 28 March 2027 02:30 does not exist in Europe/Madrid (clocks go forward).",
        ),
    ],
    ids=[
        "out-of-order",
        "do-not-add-up",
        "zero",
        "more-batches-than-contacts",
        "past",
        "missing",
        "dst-gap",
    ],
)
@time_machine.travel(NOW, tick=False)
def test_batches_are_checked_and_nothing_is_saved(as_marketer, draft, batches, message):
    before = fresh(draft).schedule_draft

    response = schedule(as_marketer, draft, **rows(*batches))

    assert response.status_code == 200
    assert message in html(response).replace("&#x27;", "'")
    sending = fresh(draft)
    assert sending.status == "draft" and sending.schedule_draft == before
    assert not Batch.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_split_evenly_at_a_fixed_interval(as_marketer, subaccount, marketer):
    sending = SendingFactory(subaccount=subaccount, created_by=marketer)
    sending.lists.add(contact_list_with(subaccount, 7))

    schedule(
        as_marketer, sending, mode="split", split_count="3", split_date="2026-12-01",
        split_time="09:00", split_every="90", split_unit="minutes",
    )  # fmt: skip

    batches = list(Batch.objects.filter(sending=sending).order_by("number"))
    assert [b.recipient_count for b in batches] == [3, 2, 2]
    assert [b.scheduled_at.strftime("%H:%M") for b in batches] == ["08:00", "09:30", "11:00"]


@time_machine.travel(NOW, tick=False)
def test_split_by_days_keeps_the_clock_time_across_daylight_saving(
    as_marketer, subaccount, marketer
):
    sending = SendingFactory(subaccount=subaccount, created_by=marketer)
    sending.lists.add(contact_list_with(subaccount, 4))

    schedule(
        as_marketer, sending, mode="split", split_count="2", split_date="2027-03-27",
        split_time="09:00", split_every="1", split_unit="days",
    )  # fmt: skip

    first, second = Batch.objects.filter(sending=sending).order_by("number")
    assert (first.scheduled_at.hour, second.scheduled_at.hour) == (8, 7)  # 09:00 both days


@time_machine.travel(NOW, tick=False)
def test_add_and_remove_batch_rows_without_javascript(as_marketer, draft):
    typed = rows(("2026-12-01", "09:00", 2), ("2026-12-01", "10:00", 4))

    added = as_marketer.post(url(draft, "schedule"), {**typed, "nav": "add_batch"})

    assert added.status_code == 302 and added.url == url(draft, "schedule")
    page = html(as_marketer.get(added.url))
    assert "Batch 3 date" in page and 'value="2026-12-01"' in page
    assert len(fresh(draft).schedule_draft["rows"]) == 3

    removed = as_marketer.post(
        url(draft, "schedule"), {**typed, "batch_date": ["2026-12-01", "2026-12-01", ""],
                                 "batch_time": ["09:00", "10:00", ""],
                                 "batch_count": ["2", "4", ""], "remove_batch": "1"},
    )  # fmt: skip
    assert removed.status_code == 302
    assert fresh(draft).schedule_draft["rows"] == [
        {"date": "2026-12-01", "time": "10:00", "count": "4"},
        {"date": "", "time": "", "count": ""},
    ]
    assert fresh(draft).status == "draft"


@time_machine.travel(NOW, tick=False)
def test_add_batch_with_htmx_answers_the_form_fragment(as_marketer, draft):
    typed = rows(("2026-12-01", "09:00", 2), ("2026-12-01", "10:00", 4))

    response = as_marketer.post(url(draft, "schedule"), {**typed, "nav": "add_batch"}, **HTMX)

    assert response.status_code == 200
    fragment = html(response)
    assert fragment.lstrip().startswith('<form id="schedule-form"')
    assert "Batch 3 date" in fragment and 'value="10:00"' in fragment


@time_machine.travel(NOW, tick=False)
def test_an_empty_audience_is_refused(as_marketer, subaccount, marketer):
    sending = SendingFactory(subaccount=subaccount, created_by=marketer)
    sending.lists.add(contact_list_with(subaccount, 0))

    response = schedule(as_marketer, sending, mode="now")

    assert "Nobody to send to yet: choose lists with subscribed contacts in step 5" in html(
        response
    )
    assert fresh(sending).status == "draft"


@time_machine.travel(NOW, tick=False)
def test_confirming_an_incomplete_draft_points_to_the_step(as_marketer, draft):
    Sending.objects.filter(pk=draft.pk).update(subject="")

    response = schedule(as_marketer, draft, mode="at", date="2026-12-01", time="09:00")

    page = html(response)
    assert "The subject is missing." in page
    assert f'<a href="{url(draft, "details")}">Fix it in step 1, Details</a>' in page
    sending = fresh(draft)
    assert sending.status == "draft" and sending.schedule_draft == {}


@time_machine.travel(NOW, tick=False)
def test_a_refused_confirm_leaves_the_draft_as_it_was(as_marketer, draft, other_subaccount):
    # A list of another subaccount slipped in (say, through an old admin form): the
    # service refuses it, and the schedule typed is not saved either.
    draft.lists.add(contact_list_with(other_subaccount, 2, name="Theirs"))

    response = schedule(as_marketer, draft, mode="at", date="2026-12-01", time="09:00")

    assert response.status_code == 409
    assert "These lists belong to another subaccount: Theirs." in html(response)
    sending = fresh(draft)
    assert sending.status == "draft" and sending.schedule_draft == {}
    assert not Batch.objects.exists()


def test_a_confirmed_sending_cannot_be_edited(as_marketer, subaccount):
    sending = scheduled_sending(subaccount)

    page = as_marketer.get(url(sending, "details"))
    post = as_marketer.post(url(sending, "details"), {"name": "Changed", "nav": "next"})

    detail = reverse("sending_detail", args=[sending.identifier])
    assert page.status_code == 302 and page.url == detail
    assert post.status_code == 302 and post.url == detail
    assert fresh(sending).name != "Changed"


def test_draft_update_service_refuses_a_confirmed_sending(subaccount):
    sending = scheduled_sending(subaccount)

    with pytest.raises(DomainError) as refused:
        services.sending_draft_update(sending=sending, fields={"subject": "Changed"})

    assert refused.value.code == "not_draft"
    assert fresh(sending).subject == "Our spring offers"


# --- Duplicate and the row menu ------------------------------------------------------------------


def test_duplicate_makes_a_draft_copy_and_opens_it(as_marketer, subaccount, marketer):
    original = scheduled_sending(subaccount, contacts=3)

    response = as_marketer.post(reverse("sending_duplicate", args=[original.identifier]))

    copy = Sending.objects.exclude(pk=original.pk).get()
    assert response.status_code == 302 and response.url == url(copy, "details")
    assert copy.name == f"Copy of {original.name}"
    assert (copy.status, copy.scheduled_at, copy.batch_count, copy.total_recipients) == (
        "draft", None, 0, 0,
    )  # fmt: skip
    assert (copy.subject, copy.html_body, copy.text_body) == (
        original.subject, original.html_body, original.text_body,
    )  # fmt: skip
    assert list(copy.lists.all()) == list(original.lists.all())
    assert copy.created_by == marketer


def test_duplicate_from_htmx_redirects_the_browser(as_marketer, draft):
    response = as_marketer.post(reverse("sending_duplicate", args=[draft.identifier]), **HTMX)

    copy = Sending.objects.exclude(pk=draft.pk).get()
    assert response.headers["HX-Redirect"] == url(copy, "details")


def test_duplicate_without_javascript_asks_first(as_marketer, draft):
    page = html(as_marketer.get(reverse("sending_duplicate", args=[draft.identifier])))

    assert "Duplicate “Spring sale”?" in page
    assert Sending.objects.count() == 1


def test_row_menu_offers_edit_draft_and_duplicate_to_marketers(client, marketer, viewer, draft):
    list_url = reverse("sending_list", args=[draft.subaccount_id])
    client.force_login(marketer)
    page = html(client.get(list_url))
    assert f'href="/sendings/{draft.identifier}/edit/">Edit draft</a>' in page
    assert ">Duplicate</button>" in page
    client.force_login(viewer)
    page = html(client.get(list_url))
    assert "Edit draft" not in page and ">Duplicate</button>" not in page


def test_edit_draft_opens_the_first_step(as_marketer, draft):
    response = as_marketer.get(reverse("sending_edit", args=[draft.identifier]))

    assert response.status_code == 302 and response.url == url(draft, "details")
