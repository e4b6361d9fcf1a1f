"""Finding things on the sending list the way a user does: by the UI contract's accessible names.

The UI contract (docs/decisions.md): the table "Sendings", the row button "Actions for <name>",
menu items "Cancel" / "Request urgent cancellation" / "View details", the confirm button
"Yes, cancel sending", the eye button "View batches of <name>" and "Cancel batch <n>" in the
batches dialog.
"""

import re

from playwright.sync_api import Locator, Page, expect

STATUSES = re.compile(r"^\s*(Draft|Scheduled|Sending|Paused|Sent|Canceled)\s*$")
CONFIRM_CANCEL = "Yes, cancel sending"


def sendings_table(page: Page) -> Locator:
    return page.get_by_role("table", name="Sendings")


def actions_button(page: Page, name: str) -> Locator:
    return page.get_by_role("button", name=f"Actions for {name}", exact=True)


def sending_row(page: Page, name: str) -> Locator:
    return sendings_table(page).get_by_role("row").filter(has=actions_button(page, name))


def status_badge(row: Locator) -> Locator:
    """The row's status badge: the one element whose whole text is a status."""
    return row.get_by_text(STATUSES)


def menu_item(scope: Locator | Page, name: str) -> Locator:
    """A menu item is a button or a link with a plain name; hidden ones never match."""
    return scope.get_by_role("button", name=name, exact=True).or_(
        scope.get_by_role("link", name=name, exact=True)
    )


def controlled_element(page: Page, invoker: Locator) -> Locator:
    """The popover, dialog or menu an invoker button controls, by the id it points to."""
    for attribute in ("popovertarget", "commandfor", "aria-controls"):
        target = invoker.get_attribute(attribute)
        if target:
            return page.locator(f"[id='{target}']")
    raise AssertionError(
        f"{invoker} names no popovertarget, commandfor or aria-controls: "
        "nothing says which menu it opens"
    )


def open_actions_menu(page: Page, name: str) -> Locator:
    """Click the row's three-dot button and return the menu it opened."""
    button = actions_button(page, name)
    button.click()
    menu = controlled_element(page, button)
    expect(menu).to_be_visible()
    return menu


def confirm_button(page: Page) -> Locator:
    return page.get_by_role("button", name=CONFIRM_CANCEL, exact=True)


def is_focused(locator: Locator) -> bool:
    return locator.count() > 0 and locator.first.evaluate("el => el === document.activeElement")


def press_until_focused(page: Page, target: Locator, key: str = "Tab", limit: int = 40) -> int:
    """Press `key` until `target` has the keyboard focus; return how many presses it took."""
    for presses in range(limit + 1):
        if is_focused(target):
            return presses
        page.keyboard.press(key)
    active = page.evaluate(
        "() => { const el = document.activeElement;"
        " return el ? el.outerHTML.slice(0, 200) : null; }"
    )
    raise AssertionError(f"{limit} presses of {key} never focused {target}; focus is on {active}")


def batch_row(dialog: Locator, number: int) -> Locator:
    """The batches dialog's row for batch `number` (its row header reads "Batch <n>").

    A `has=` locator is matched inside each row, so it must start from the page, not the dialog.
    """
    return dialog.get_by_role("row").filter(
        has=dialog.page.get_by_role("rowheader", name=f"Batch {number}", exact=True)
    )


def cancel_batch(page: Page, dialog: Locator, number: int) -> None:
    """Click "Cancel batch <n>", then confirm with "Yes, cancel batch <n>"."""
    dialog.get_by_role("button", name=f"Cancel batch {number}", exact=True).click()
    page.get_by_role("button", name=f"Yes, cancel batch {number}", exact=True).click()


def status_tab(page: Page, label: str) -> Locator:
    """The status filter tab "<label> <count>" above the table."""
    return page.get_by_role("navigation", name="Filter by status").get_by_role(
        "link", name=re.compile(rf"^{label}\b")
    )
