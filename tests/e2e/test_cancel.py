"""The help page's four scenarios, clicked through in Chromium.

Each test sets a sending up through the services, acts in the browser as the marketer and
checks what the marketer sees: the status badge, which actions the menu offers, the batches.
"""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.ui import (
    batch_row,
    cancel_batch,
    confirm_button,
    controlled_element,
    menu_item,
    open_actions_menu,
    press_until_focused,
    sending_row,
    status_badge,
    status_tab,
)
from tests.factories import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


# Resolves once the next htmx request has been skipped, or else answered and swapped in
# (or after 3 s if nothing polls). Listening on window runs after the page's own listeners,
# which may cancel the request.
NEXT_POLL_SETTLED = """
() => new Promise((resolve) => {
  setTimeout(() => resolve("no request"), 3000);
  window.addEventListener("htmx:beforeRequest", (event) => {
    if (event.defaultPrevented) resolve("skipped");
    else window.addEventListener("htmx:afterSettle", () => resolve("swapped"), {once: true});
  }, {once: true});
})
"""


def mark_page(page: Page) -> None:
    """A flag that only survives if the page is never reloaded."""
    page.evaluate("window.__marker = 1")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__marker") == 1, "the page was reloaded"


def test_marketer_logs_in_through_the_form_and_lands_on_the_sending_list(
    page, live_server, marketer, make_sending, screenshot
):
    make_sending("Spring sale")

    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Username").fill("marketer")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    table = page.get_by_role("table", name="Sendings")
    expect(table).to_be_visible()
    for column in ("Name", "Status", "Scheduled", "Contacts", "Sent"):
        expect(table.get_by_role("columnheader", name=column, exact=True)).to_be_visible()
    expect(status_badge(sending_row(page, "Spring sale"))).to_have_text("Scheduled")
    screenshot(page)


# --- A scheduled sending, canceled from the three-dot menu -------------------------


def test_cancel_a_scheduled_sending_from_its_menu(
    marketer_page, list_url, make_sending, screenshot
):
    page = marketer_page
    sending = make_sending("Spring sale")
    make_sending("Summer news")  # an untouched neighbour
    page.goto(list_url)
    row = sending_row(page, "Spring sale")
    expect(status_badge(row)).to_have_text("Scheduled")
    mark_page(page)

    menu = open_actions_menu(page, "Spring sale")
    menu_item(menu, "Cancel").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    confirm_button(page).click()

    expect(status_badge(row)).to_have_text("Canceled")
    expect(page.get_by_role("status")).to_contain_text("Spring sale")
    expect(status_tab(page, "Canceled")).to_have_text(re.compile(r"\b1\s*$"))
    expect(status_tab(page, "Scheduled")).to_have_text(re.compile(r"\b1\s*$"))
    assert_not_reloaded(page)
    expect(status_badge(sending_row(page, "Summer news"))).to_have_text("Scheduled")
    screenshot(page)

    page.reload()
    expect(status_badge(sending_row(page, "Spring sale"))).to_have_text("Canceled")
    sending.refresh_from_db()
    assert sending.status == "canceled"
    assert set(sending.batches.values_list("status", flat=True)) == {"canceled"}


# --- In batches: one batch at a time, from the batches dialog -----------------------------------


def test_cancel_batch_2_from_the_batches_dialog(marketer_page, list_url, make_sending, screenshot):
    page = marketer_page
    sending = make_sending("Spring sale", contacts=6, sizes=[2, 2, None], sent_batches=1)
    page.goto(list_url)
    row = sending_row(page, "Spring sale")
    expect(status_badge(row)).to_have_text("Scheduled")
    expect(row).to_contain_text(re.compile(r"\b2\s*/\s*6\b"))  # Sent column: 2 of 6
    mark_page(page)

    page.get_by_role("button", name="View batches of Spring sale", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("rowheader", name=re.compile(r"^Batch \d+$"))).to_have_count(3)
    expect(status_badge(batch_row(dialog, 1))).to_have_text("Sent")
    expect(batch_row(dialog, 1).get_by_role("button")).to_have_count(0)  # nothing to cancel
    expect(status_badge(batch_row(dialog, 2))).to_have_text("Scheduled")

    cancel_batch(page, dialog, 2)

    expect(status_badge(batch_row(dialog, 2))).to_have_text("Canceled")
    expect(dialog.get_by_role("button", name="Cancel batch 2", exact=True)).to_have_count(0)
    expect(status_badge(batch_row(dialog, 1))).to_have_text("Sent")
    expect(dialog.get_by_role("button", name=re.compile(r"^Cancel batch 1\b"))).to_have_count(0)
    expect(status_badge(batch_row(dialog, 3))).to_have_text("Scheduled")
    screenshot(page, "-dialog")
    # Batch 3 is still due, so the sending stays Scheduled until that one is canceled too.
    expect(status_badge(row)).to_have_text("Scheduled")

    cancel_batch(page, dialog, 3)

    expect(status_badge(batch_row(dialog, 3))).to_have_text("Canceled")
    expect(status_badge(row)).to_have_text("Canceled")  # the row behind the dialog updated
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(row).to_contain_text(re.compile(r"\b2\s*/\s*6\b"))  # what was sent stays counted
    assert_not_reloaded(page)
    # The status tabs' counts follow, as they do after a cancel from the row's menu.
    expect(status_tab(page, "Canceled")).to_have_text(re.compile(r"\b1\s*$"))
    expect(status_tab(page, "Scheduled")).to_have_text(re.compile(r"\b0\s*$"))
    screenshot(page)
    assert list(sending.batches.order_by("number").values_list("status", flat=True)) == [
        "sent",
        "canceled",
        "canceled",
    ]


# --- Scenarios 3 and 4: nothing to cancel from the platform ------------------------------------


def test_a_sending_in_progress_offers_no_cancel(marketer_page, list_url, make_sending, screenshot):
    page = marketer_page
    make_sending("Spring sale", "sending")
    page.goto(list_url)
    expect(status_badge(sending_row(page, "Spring sale"))).to_have_text("Sending")

    menu = open_actions_menu(page, "Spring sale")

    expect(menu_item(menu, "View details")).to_be_visible()
    expect(menu_item(page, "Cancel")).to_have_count(0)
    expect(menu_item(menu, "Request urgent cancellation")).to_be_visible()  # support instead
    # The row refreshes itself while sending: a refresh must not pull the menu from under the
    # user. Wait for the next polling tick (an htmx event, not a sleep), then look again.
    page.evaluate(NEXT_POLL_SETTLED)
    expect(menu).to_be_visible()
    screenshot(page)


def test_a_sent_sending_offers_no_cancel(marketer_page, list_url, make_sending, screenshot):
    page = marketer_page
    make_sending("Spring sale", "sent")
    page.goto(list_url)
    expect(status_badge(sending_row(page, "Spring sale"))).to_have_text("Sent")

    menu = open_actions_menu(page, "Spring sale")
    screenshot(page)

    expect(menu_item(menu, "View details")).to_be_visible()
    expect(menu_item(page, "Cancel")).to_have_count(0)
    expect(menu_item(page, "Request urgent cancellation")).to_have_count(0)
    expect(menu).to_contain_text(re.compile(r"already sent|nothing to cancel", re.IGNORECASE))


# --- The same cancel, without a mouse and without JavaScript ------------------------------------


def test_cancel_with_the_keyboard_alone(marketer_page, list_url, make_sending, screenshot):
    page = marketer_page
    make_sending("Spring sale")
    page.goto(list_url)
    row = sending_row(page, "Spring sale")
    expect(status_badge(row)).to_have_text("Scheduled")
    mark_page(page)
    button = page.get_by_role("button", name="Actions for Spring sale", exact=True)
    cancel = menu_item(page, "Cancel")

    press_until_focused(page, button)
    page.keyboard.press("Enter")
    expect(cancel).to_be_visible()
    page.keyboard.press("Escape")  # Escape closes the menu and gives the focus back
    expect(cancel).to_have_count(0)
    expect(button).to_be_focused()
    page.keyboard.press("Space")
    expect(cancel).to_be_visible()
    press_until_focused(page, cancel, limit=6)
    page.keyboard.press("Enter")
    confirm = confirm_button(page)
    expect(confirm).to_be_visible()
    press_until_focused(page, confirm, limit=6)
    screenshot(page, "-confirm")
    page.keyboard.press("Enter")

    expect(status_badge(row)).to_have_text("Canceled")
    expect(button).to_be_focused()  # the keyboard user is back where they started
    assert_not_reloaded(page)
    screenshot(page)


def test_cancel_with_javascript_disabled(
    new_context, log_in, marketer, list_url, make_sending, screenshot
):
    context = new_context(java_script_enabled=False)
    log_in(context, marketer)
    page = context.new_page()
    sending = make_sending("Spring sale")
    page.goto(list_url)
    expect(status_badge(sending_row(page, "Spring sale"))).to_have_text("Scheduled")

    button = page.get_by_role("button", name="Actions for Spring sale", exact=True)
    button.click()
    expect(controlled_element(page, button)).to_be_visible()
    menu_item(page, "Cancel").click()
    confirm_button(page).click()  # a plain form POST, answered with a redirect

    expect(page).to_have_url(re.compile("^" + re.escape(list_url)))
    expect(status_badge(sending_row(page, "Spring sale"))).to_have_text("Canceled")
    expect(page.get_by_role("status")).to_contain_text(re.compile("cancel", re.IGNORECASE))
    screenshot(page)
    sending.refresh_from_db()
    assert sending.status == "canceled"
