"""The "New sending" wizard in Chromium: all six steps to a sending in 3 batches,
and "Send now" called back during its countdown while a real worker is delivering."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from batches.models import Recipient
from sendings.models import Sending
from tests.e2e.ui import (
    batch_row,
    cancel_batch,
    confirm_button,
    menu_item,
    open_actions_menu,
    sending_row,
    status_badge,
)
from tests.factories import SendingFactory, contact_list_with, scheduled_sending
from tests.workers import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def next_step(page: Page, title: str) -> None:
    page.get_by_role("button", name="Next", exact=True).click()
    expect(page.get_by_role("heading", level=2, name=title)).to_be_visible()


def current_step(page: Page):
    return page.get_by_role("navigation", name="Steps of the new sending").locator(
        "[aria-current='step']"
    )


def test_create_a_sending_in_3_batches_and_cancel_batch_2(
    marketer_page, list_url, subaccount, screenshot
):
    page = marketer_page
    contact_list_with(subaccount, 6, name="Spring list")
    contact_list_with(subaccount, 2, name="Other list")
    tomorrow = (timezone.now().astimezone(subaccount.zone) + timedelta(days=1)).date()
    day = tomorrow.isoformat()

    page.goto(list_url)
    page.get_by_role("button", name="New sending", exact=True).click()
    expect(current_step(page)).to_contain_text("Details")
    page.get_by_label("Name", exact=True).fill("Winter sale")
    page.get_by_label("Subject", exact=True).fill("Cold days, warm deals")
    page.get_by_label("Sender name").fill("Acme")
    page.get_by_label("Sender address").fill("news@acme.example")
    screenshot(page, "-1-details")
    next_step(page, "2. Design")

    page.get_by_label("HTML", exact=True).fill(
        '<h1 style="color: #2f5bea">Hi {{ name }}</h1>'
        '<p>See <a href="https://acme.example/winter">our deals</a>.</p>'
        '<script>document.body.innerHTML = "<p id=pwned>pwned</p>"</script>'
    )
    page.get_by_role("button", name="Save and preview").click()
    preview = page.frame_locator("iframe[title='Preview of the message']")
    expect(preview.get_by_role("heading", name="Hi {{ name }}")).to_be_visible()
    expect(preview.locator("#pwned")).to_have_count(0)  # the sandbox ran no script
    screenshot(page, "-2-design")
    next_step(page, "3. Text version")

    text = page.get_by_label("Text version", exact=True)
    expect(text).to_have_value(re.compile(r"See our deals \(https://acme\.example/winter\)\."))
    next_step(page, "4. Test")
    next_step(page, "5. Contacts")

    page.get_by_label("Spring list").check()
    expect(page.locator("#audience")).to_contain_text("6 contacts will receive it")  # htmx
    screenshot(page, "-5-contacts")
    next_step(page, "6. Schedule sending")

    page.get_by_label("Send in batches", exact=True).check()
    expect(page.get_by_label("Batch 3 date")).to_have_count(0)
    for number, (at, count) in enumerate([("09:00", "2"), ("10:00", "2")], start=1):
        page.get_by_label(f"Batch {number} date").fill(day)
        page.get_by_label(f"Batch {number} time").fill(at)
        page.get_by_label(f"Batch {number} contacts").fill(count)
    page.get_by_role("button", name="Confirm", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text(
        "The batches add up to 4 contacts but the audience has 6."
    )
    screenshot(page, "-6-schedule-error")
    page.get_by_role("button", name="Add batch").click()  # htmx swaps the form in place
    expect(page.get_by_label("Batch 3 date")).to_be_visible()
    expect(page.get_by_label("Batch 2 time")).to_have_value("10:00")
    page.get_by_label("Batch 3 date").fill(day)
    page.get_by_label("Batch 3 time").fill("11:00")
    page.get_by_label("Batch 3 contacts").fill("2")
    screenshot(page, "-6-schedule")
    page.get_by_role("button", name="Confirm", exact=True).click()

    row = sending_row(page, "Winter sale")
    expect(status_badge(row)).to_have_text("Scheduled")
    expect(row).to_contain_text("3 batches · 6 contacts")
    screenshot(page, "-list")
    page.get_by_role("button", name="View batches of Winter sale", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("rowheader", name=re.compile(r"^Batch \d+$"))).to_have_count(3)
    cancel_batch(page, dialog, 2)
    expect(status_badge(batch_row(dialog, 2))).to_have_text("Canceled")
    expect(status_badge(batch_row(dialog, 1))).to_have_text("Scheduled")
    screenshot(page, "-batches")

    sending = Sending.objects.get(name="Winter sale")
    assert list(sending.batches.order_by("number").values_list("status", flat=True)) == [
        "scheduled", "canceled", "scheduled",
    ]  # fmt: skip


def test_send_now_called_back_during_the_countdown_sends_nothing(
    marketer_page, live_server, subaccount, marketer, settings, sink, workers, screenshot
):
    settings.UNDO_SECONDS = 6
    page = marketer_page
    workers.start(1)  # with beat, on the test database, mailing into the sink
    draft = SendingFactory(subaccount=subaccount, name="Flash sale", created_by=marketer)
    draft.lists.add(contact_list_with(subaccount, 3, name="Flash list"))
    page.goto(live_server.url + reverse("wizard_schedule", args=[draft.identifier]))

    page.get_by_label("Send now", exact=True).check()
    page.get_by_role("button", name="Confirm", exact=True).click()

    countdown = page.locator("time[data-countdown]")
    expect(page.get_by_text(re.compile(r"^Sending in \d+ s"))).to_be_visible()
    first = int(countdown.inner_text().split()[0])
    assert 1 <= first <= 6
    expect(countdown).not_to_have_text(f"{first} s", timeout=2_500)  # it ticks
    screenshot(page, "-countdown")
    page.get_by_role("button", name="Cancel sending", exact=True).click()
    confirm_button(page).click()
    expect(page.locator(".page-head .badge")).to_have_text("Canceled")
    screenshot(page, "-canceled")

    sending = Sending.objects.get(pk=draft.pk)
    batch = sending.batches.get()
    assert batch.status == "canceled"
    # The positive control, due a few dispatcher ticks (0.5 s each) after the canceled batch and
    # canceled by nobody: once it is sent, the worker has dispatched past that batch's time.
    control = scheduled_sending(
        subaccount,
        contacts=2,
        first_at=max(batch.scheduled_at, timezone.now()) + timedelta(seconds=1.5),
    )
    wait_for(
        lambda: Sending.objects.get(pk=control.pk).status == "sent", timeout=20, what="control"
    )
    control_emails = set(Recipient.objects.filter(sending=control).values_list("email", flat=True))
    assert sorted(sink.rcpts()) == sorted(control_emails)  # the worker was delivering
    assert not set(sink.rcpts()) & set(
        Recipient.objects.filter(sending=sending).values_list("email", flat=True)
    )
    assert Sending.objects.get(pk=draft.pk).sent_count == 0


def test_duplicate_from_the_row_menu_opens_the_copy_in_the_wizard(
    marketer_page, list_url, make_sending, screenshot
):
    page = marketer_page
    make_sending("Spring sale")
    page.goto(list_url)

    menu = open_actions_menu(page, "Spring sale")
    menu_item(menu, "Duplicate").click()  # htmx POST, then HX-Redirect

    expect(page.get_by_role("heading", level=1, name="Copy of Spring sale")).to_be_visible()
    expect(current_step(page)).to_contain_text("Details")
    expect(page.get_by_label("Subject", exact=True)).to_have_value("Our spring offers")
    page.get_by_role("link", name="← Sendings").click()
    row = sending_row(page, "Copy of Spring sale")
    expect(status_badge(row)).to_have_text("Draft")
    menu = open_actions_menu(page, "Copy of Spring sale")
    expect(menu_item(menu, "Edit draft")).to_be_visible()
    screenshot(page)
