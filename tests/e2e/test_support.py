"""A sending in progress, in the browser: the marketer asks, support stops it, the marketer
sees the outcome."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from batches import services as batch_services
from tests.e2e.ui import menu_item, open_actions_menu, sending_row, status_badge

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def stoppable(settings):
    settings.SMALL_SENDING_MAX_RECIPIENTS = 10


def deliver(sending, count: int) -> None:
    batch = sending.batches.get(number=1)
    ids = list(batch.recipients.order_by("id").values_list("id", flat=True)[:count])
    batch_services.recipients_record_results(batch_id=batch.pk, sent=ids)


def open_support_queue(new_context, log_in, support_user, live_server):
    """Support in a browser of its own, on the queue: its page and the "Open" table."""
    support = new_context()
    log_in(support, support_user)
    desk = support.new_page()
    desk.goto(live_server.url + reverse("ticket_queue"))
    return desk, desk.get_by_role("table", name="Open")


def test_marketer_files_support_stops_marketer_sees_canceled_with_the_received_count(
    marketer_page,
    list_url,
    make_sending,
    new_context,
    log_in,
    support_user,
    live_server,
    stoppable,
    screenshot,
):
    sending = make_sending("Spring sale", "sending", contacts=40)
    deliver(sending, 3)
    page = marketer_page
    page.goto(list_url)

    # The marketer: the row menu, the dialog filled in, the request.
    menu = open_actions_menu(page, "Spring sale")
    menu_item(menu, "Request urgent cancellation").click()
    dialog = page.get_by_role("dialog", name="Request urgent cancellation")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(sending.identifier)
    expect(dialog).to_contain_text(sending.subaccount.account.identifier)
    expect(dialog).to_contain_text("3 / 40")
    expect(dialog).to_contain_text("cannot be recovered")
    dialog.get_by_label("Message to support").fill("Wrong list, please stop it")
    screenshot(page, "-1-dialog")
    dialog.get_by_role("button", name="Send urgent request").click()
    row = sending_row(page, "Spring sale")
    expect(row).to_contain_text("Cancellation requested")
    expect(dialog).to_be_hidden()
    screenshot(page, "-2-requested")

    # Support: the queue, the ticket, the stop.
    desk, queue = open_support_queue(new_context, log_in, support_user, live_server)
    expect(queue).to_contain_text("Spring sale")
    expect(queue).to_contain_text("3 / 40")
    screenshot(desk, "-3-queue")
    desk.get_by_role("link", name="Open request for Spring sale").click()
    expect(desk.get_by_text("Wrong list, please stop it")).to_be_visible()
    desk.get_by_role("button", name="Stop sending").click()
    confirm = desk.get_by_role("dialog", name="Stop “Spring sale”?")
    confirm.get_by_role("button", name="Yes, stop sending").click()
    expect(desk.get_by_role("status")).to_contain_text("3 of 40 contacts had received it")
    screenshot(desk, "-4-stopped")

    # The marketer: Canceled, with how many had received it.
    page.reload()
    row = sending_row(page, "Spring sale")
    expect(status_badge(row)).to_have_text("Canceled")
    expect(row).to_contain_text("Stopped by support · 3 of 40 received")
    expect(row).to_contain_text("3 / 40")
    screenshot(page, "-5-outcome")


def test_a_small_sending_says_up_front_it_cannot_be_stopped(
    marketer_page, list_url, make_sending, screenshot
):
    make_sending("Tiny blast", "sending", contacts=4)
    page = marketer_page
    page.goto(list_url)
    menu = open_actions_menu(page, "Tiny blast")
    menu_item(menu, "Request urgent cancellation").click()
    dialog = page.get_by_role("dialog", name="Request urgent cancellation")
    expect(dialog).to_contain_text("Small sendings can't be stopped.")
    expect(dialog.get_by_role("button", name="Send urgent request")).to_have_count(0)
    screenshot(page)
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()


def pause(sending, *, sent: int, bounced: int) -> None:
    """Record failures past the threshold, as a worker would, so the batch pauses itself."""
    batch = sending.batches.get(number=1)
    ids = list(
        batch.recipients.filter(status="pending").order_by("id").values_list("id", flat=True)
    )
    batch_services.recipients_record_results(
        batch_id=batch.pk,
        sent=ids[:sent],
        bounced={pk: "550 5.1.1 Mailbox unavailable" for pk in ids[sent : sent + bounced]},
    )


def test_a_paused_row_says_why_and_support_resumes_it_from_the_queue(
    marketer_page,
    list_url,
    make_sending,
    new_context,
    log_in,
    support_user,
    live_server,
    settings,
    screenshot,
):
    settings.AUTO_PAUSE_MIN_ATTEMPTS = 20
    sending = make_sending("Autumn news", "sending", contacts=40)
    pause(sending, sent=14, bounced=6)
    page = marketer_page
    page.goto(list_url)

    # The marketer: Paused, why, and no Cancel.
    row = sending_row(page, "Autumn news")
    expect(status_badge(row)).to_have_text("Paused")
    expect(row).to_contain_text("Paused: support is looking at it")
    expect(row).to_contain_text("30% of 20 messages failed")
    menu = open_actions_menu(page, "Autumn news")
    expect(menu.get_by_role("button", name="Cancel")).to_have_count(0)
    expect(menu.get_by_role("button", name="Request urgent cancellation")).to_have_count(0)
    expect(menu).to_contain_text("support will resume or stop it")
    screenshot(page, "-1-paused-row")

    # Support: the pause is in the queue; open it, resume.
    desk, queue = open_support_queue(new_context, log_in, support_user, live_server)
    expect(queue).to_contain_text("Paused automatically: 30% of 20 messages failed")
    expect(queue).to_contain_text("by the platform")
    screenshot(desk, "-2-queue")
    desk.get_by_role("link", name="Open pause of Autumn news").click()
    expect(desk.get_by_text("550 5.1.1 Mailbox unavailable (6 contacts)")).to_be_visible()
    desk.get_by_role("button", name="Resume sending").click()
    expect(desk.get_by_role("status")).to_contain_text("is being sent again")
    screenshot(desk, "-3-resumed")

    # The marketer: Sending again.
    page.reload()
    row = sending_row(page, "Autumn news")
    expect(status_badge(row)).to_have_text("Sending")
    expect(row).to_contain_text("Resumed by support after a pause")
