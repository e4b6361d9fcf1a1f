"""The sending list's identifiers on hover and focus, and its layout on a phone."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.ui import (
    confirm_button,
    controlled_element,
    menu_item,
    press_until_focused,
    sending_row,
    sendings_table,
    status_badge,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}

# Every element that sticks out to the right of the viewport without a scroller to hold it.
# A scroller (overflow-x other than visible) only holds an absolutely positioned element if the
# element's containing block is the scroller or inside it: a visually hidden label in a table
# cell with no positioned ancestor escapes the table's scroller and widens the whole page.
OVERFLOWING = """
() => {
  const limit = document.documentElement.clientWidth + 0.5;
  const held = (el) => {
    let escapes = getComputedStyle(el).position === "absolute";
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const style = getComputedStyle(p);
      if (escapes && style.position !== "static") escapes = false;
      if (!escapes && style.overflowX !== "visible") return true;
    }
    return false;
  };
  const describe = (el) => {
    const classes = [...el.classList].map((c) => "." + c).join("");
    const text = (el.textContent || "").trim().slice(0, 30);
    return `<${el.tagName.toLowerCase()}${classes}> "${text}" right=${
      Math.round(el.getBoundingClientRect().right)}px`;
  };
  return [...document.body.querySelectorAll("*")]
    .filter((el) => {
      const box = el.getBoundingClientRect();
      return box.width > 0 && box.height > 0 && box.right > limit
        && getComputedStyle(el).position !== "fixed" && !held(el);
    })
    .map(describe);
}
"""
PAGE_WIDTHS = (
    "() => ({html: document.documentElement.scrollWidth, body: document.body.scrollWidth,"
    " viewport: document.documentElement.clientWidth})"
)


def test_account_name_shows_the_account_identifier_on_keyboard_focus(
    marketer_page, list_url, subaccount, make_sending, screenshot
):
    page = marketer_page
    make_sending("Spring sale")
    identifier = subaccount.account.identifier
    page.goto(list_url)
    account_name = page.get_by_role("banner").get_by_text("Acme Marketing").first
    expect(account_name).to_be_visible()
    expect(page.get_by_text(identifier)).to_be_hidden()

    press_until_focused(page, account_name, limit=10)

    tooltip = page.get_by_text(identifier)
    expect(tooltip).to_be_visible()
    expect(tooltip).to_have_css("opacity", "1")  # shown, not merely laid out
    titled = account_name.locator("xpath=ancestor-or-self::*[@title][1]")
    expect(titled).to_have_attribute("title", re.compile(re.escape(identifier)))
    screenshot(page)


def test_status_badge_shows_the_sending_identifier_on_hover(
    marketer_page, list_url, make_sending, screenshot
):
    page = marketer_page
    sending = make_sending("Spring sale")
    page.goto(list_url)
    badge = status_badge(sending_row(page, "Spring sale"))
    tooltip = page.get_by_text(sending.identifier)
    expect(tooltip).to_be_hidden()

    badge.hover()

    expect(tooltip).to_be_visible()
    expect(tooltip).to_have_css("opacity", "1")  # shown, not merely laid out
    titled = badge.locator("xpath=ancestor-or-self::*[@title][1]")
    expect(titled).to_have_attribute("title", re.compile(re.escape(sending.identifier)))
    screenshot(page)


def test_list_fits_a_390_px_wide_phone_and_its_actions_stay_reachable(
    new_context, log_in, marketer, list_url, make_sending, screenshot
):
    context = new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    log_in(context, marketer)
    page = context.new_page()
    make_sending("Quarterly newsletter for every subscriber in Spain")
    make_sending("Spring sale in batches", contacts=6, sizes=[2, 2, None], sent_batches=1)
    make_sending("Welcome series", "sent")
    make_sending("Flash offer", "sending")
    page.goto(list_url)
    table = sendings_table(page)
    expect(table).to_be_visible()

    # Measured first, asserted last: the actions must stay reachable either way.
    widths = page.evaluate(PAGE_WIDTHS)
    sticking_out = page.evaluate(OVERFLOWING)
    in_scroller = table.evaluate(
        "el => ['auto', 'scroll'].includes(getComputedStyle(el.parentElement).overflowX)"
    )
    screenshot(page)

    # The row's three-dot button may sit off to the right in the table scroller: it must
    # still be reachable, and the menu and dialog it opens must fit the screen.
    name = "Quarterly newsletter for every subscriber in Spain"
    button = page.get_by_role("button", name=f"Actions for {name}", exact=True)
    button.scroll_into_view_if_needed()
    expect(button).to_be_in_viewport()
    button.click()
    expect(controlled_element(page, button)).to_be_in_viewport()
    cancel = menu_item(page, "Cancel")
    expect(cancel).to_be_in_viewport()
    screenshot(page, "-menu")
    cancel.click()
    expect(confirm_button(page)).to_be_in_viewport()
    dialog_box = page.get_by_role("dialog").bounding_box()
    assert dialog_box is not None
    assert dialog_box["x"] >= 0 and dialog_box["x"] + dialog_box["width"] <= PHONE["width"]
    screenshot(page, "-confirm")
    confirm_button(page).click()
    expect(status_badge(sending_row(page, name))).to_have_text("Canceled")

    assert in_scroller, "the Sendings table is not inside its own horizontal scroller"
    assert sticking_out == [], f"sticking out of the 390 px page: {sticking_out}"
    assert max(widths.values()) <= PHONE["width"], f"the page scrolls sideways: {widths}"
