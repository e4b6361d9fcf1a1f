"""Contacts in Chromium: create a list, import a CSV with a bad row, see the contacts."""

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from sendings.contacts import services
from sendings.models import ContactImport

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CSV = (
    "Email;Nombre\r\n"
    "ana@example.com;Ana Pérez\r\n"
    "not-an-email;Nobody\r\n"
    '"bob@example.com";"Stone, Bob"\r\n'
)


def test_create_a_list_and_import_a_csv_into_it(
    marketer_page: Page, live_server, subaccount, screenshot, tmp_path
):
    page = marketer_page
    page.goto(live_server.url + reverse("sending_list", args=[subaccount.pk]))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Contacts").click()

    page.get_by_label("List name").fill("Spring leads")
    page.get_by_role("button", name="Create list").click()
    expect(page.get_by_role("heading", name="Spring leads", level=1)).to_be_visible()
    expect(
        page.get_by_role("status").filter(has_text="List “Spring leads” created.")
    ).to_be_visible()

    page.get_by_role("link", name="Import CSV").click()
    # Excel's default "CSV" is not UTF-8: refused on the form, with what to do instead.
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("josé@example.com;José\n".encode("cp1252"))
    page.get_by_label("CSV file").set_input_files(str(latin1))
    page.get_by_role("button", name="Upload and import").click()
    expect(page.get_by_role("alert")).to_contain_text("The file is not UTF-8 text")
    expect(page.get_by_label("CSV file")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "_upload_error")

    csv_file = tmp_path / "leads.csv"
    csv_file.write_bytes(CSV.encode("utf-8-sig"))
    page.get_by_label("CSV file").set_input_files(str(csv_file))
    page.get_by_role("button", name="Upload and import").click()

    # No worker in this test: the page says so and keeps polling.
    expect(page.get_by_text("Waiting for a worker to start the import…")).to_be_visible()
    page.evaluate("window.__marker = 1")
    services.contact_import_run(contact_import_id=ContactImport.objects.get().pk)  # the worker

    # The next poll (every second) brings the result in, without a reload.
    errors = page.get_by_role("table", name="Rows not imported")
    expect(errors).to_be_visible()
    expect(errors.get_by_role("row").nth(1)).to_have_text(
        "3“not-an-email” is not a valid email address"
    )
    expect(page.get_by_role("definition").first).to_have_text("2")  # New contacts
    assert page.evaluate("window.__marker") == 1, "the page was reloaded"
    screenshot(page)

    page.get_by_role("link", name="See the list").click()
    contacts = page.get_by_role("table", name="Contacts")
    expect(contacts.get_by_role("rowheader", name="ana@example.com")).to_be_visible()
    expect(contacts.get_by_role("row").filter(has_text="bob@example.com")).to_contain_text(
        "Stone, Bob"
    )
    expect(page.get_by_text("2 contacts")).to_be_visible()
    screenshot(page, "_list")

    page.get_by_role("link", name="← Lists").click()
    lists = page.get_by_role("table", name="Lists")
    expect(lists.get_by_role("row").filter(has_text="Spring leads")).to_contain_text("2")
    screenshot(page, "_lists")
