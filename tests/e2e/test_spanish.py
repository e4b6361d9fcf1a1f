"""The help page's four scenarios and the urgent request, in Spanish, in Chromium.

Driven by the Spanish accessible names only (docs/decisions.md, "The same names in Spanish").
The browser asks for Spanish (Accept-Language: es-ES) and the marketer has saved no language,
so the language comes from the request; the last test switches an English dashboard to
Spanish with the language menu, which saves the choice on the user.
"""

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from sendings.tenancy.selectors import user_preferred_language
from support.models import Ticket
from tests.e2e.test_support import deliver
from tests.e2e.ui import controlled_element

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

STATUSES = re.compile(r"^\s*(Borrador|Programado|Enviando|Pausado|Enviado|Cancelado)\s*$")


@pytest.fixture
def spanish_page(new_context, log_in, marketer) -> Page:
    context = new_context(locale="es-ES")  # Playwright sends Accept-Language: es-ES
    log_in(context, marketer)
    return context.new_page()


def row_of(page: Page, name: str) -> Locator:
    return (
        page.get_by_role("table", name="Envíos")
        .get_by_role("row")
        .filter(has=page.get_by_role("button", name=f"Acciones de {name}", exact=True))
    )


def badge(scope: Locator) -> Locator:
    return scope.get_by_text(STATUSES)


def open_menu(page: Page, name: str) -> Locator:
    button = page.get_by_role("button", name=f"Acciones de {name}", exact=True)
    button.click()
    menu = controlled_element(page, button)
    expect(menu).to_be_visible()
    return menu


def item(scope: Locator | Page, name: str) -> Locator:
    return scope.get_by_role("button", name=name, exact=True).or_(
        scope.get_by_role("link", name=name, exact=True)
    )


def batch_row(dialog: Locator, number: int) -> Locator:
    return dialog.get_by_role("row").filter(
        has=dialog.page.get_by_role("rowheader", name=f"Lote {number}", exact=True)
    )


def test_the_four_scenarios_and_the_urgent_request_in_spanish(
    spanish_page, list_url, make_sending, settings, screenshot
):
    settings.SMALL_SENDING_MAX_RECIPIENTS = 10
    make_sending("Rebajas de primavera")
    in_batches = make_sending("Novedades de verano", contacts=6, sizes=[2, 2, None], sent_batches=1)
    in_progress = make_sending("Boletín de otoño", "sending", contacts=40)
    deliver(in_progress, 3)
    make_sending("Campaña de invierno", "sent")
    page = spanish_page
    page.goto(list_url)

    expect(page.locator("html")).to_have_attribute("lang", "es")
    table = page.get_by_role("table", name="Envíos")
    for column in ("Nombre", "Estado", "Programado", "Contactos", "Enviados"):
        expect(table.get_by_role("columnheader", name=column, exact=True)).to_be_visible()
    screenshot(page, "-0-list")

    # 1. Scheduled: "Cancelar" in the row's menu, confirmed in the dialog.
    row = row_of(page, "Rebajas de primavera")
    expect(badge(row)).to_have_text("Programado")
    item(open_menu(page, "Rebajas de primavera"), "Cancelar").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    screenshot(page, "-1-confirm")
    page.get_by_role("button", name="Sí, cancelar envío", exact=True).click()
    expect(badge(row)).to_have_text("Cancelado")

    # 2. In batches: the indicator, the eye button, one batch canceled.
    row = row_of(page, "Novedades de verano")
    expect(row).to_contain_text("3 lotes · 6 contactos")
    page.get_by_role("button", name="Ver lotes de Novedades de verano", exact=True).click()
    dialog = page.get_by_role("dialog", name="Lotes de «Novedades de verano»")
    expect(dialog).to_be_visible()
    expect(badge(batch_row(dialog, 1))).to_have_text("Enviado")
    dialog.get_by_role("button", name="Cancelar lote 2", exact=True).click()
    page.get_by_role("button", name="Sí, cancelar lote 2", exact=True).click()
    expect(badge(batch_row(dialog, 2))).to_have_text("Cancelado")
    expect(badge(batch_row(dialog, 3))).to_have_text("Programado")
    screenshot(page, "-2-batches")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert list(in_batches.batches.order_by("number").values_list("status", flat=True)) == [
        "sent",
        "canceled",
        "scheduled",
    ]

    # 3. Sending: no "Cancelar"; the urgent request to support instead.
    row = row_of(page, "Boletín de otoño")
    expect(badge(row)).to_have_text("Enviando")
    menu = open_menu(page, "Boletín de otoño")
    expect(item(menu, "Cancelar")).to_have_count(0)
    item(menu, "Solicitar cancelación urgente").click()
    dialog = page.get_by_role("dialog", name="Solicitar cancelación urgente")
    expect(dialog).to_contain_text(in_progress.identifier)
    expect(dialog).to_contain_text(in_progress.subaccount.account.identifier)
    expect(dialog).to_contain_text("3 / 40")
    expect(dialog).to_contain_text("no se pueden recuperar")
    dialog.get_by_label("Mensaje para soporte").fill("Lista equivocada, paradlo por favor")
    screenshot(page, "-3-urgent")
    dialog.get_by_role("button", name="Enviar solicitud urgente", exact=True).click()
    expect(dialog).to_be_hidden()
    expect(row).to_contain_text("Cancelación solicitada")
    ticket = Ticket.objects.get(sending=in_progress)
    assert ticket.subject == "Urgent Cancel Sending"  # a protocol: the same in every language
    assert ticket.message == "Lista equivocada, paradlo por favor"

    # 4. Sent: nothing to cancel, and the menu says so.
    row = row_of(page, "Campaña de invierno")
    expect(badge(row)).to_have_text("Enviado")
    menu = open_menu(page, "Campaña de invierno")
    expect(item(menu, "Ver detalles")).to_be_visible()
    expect(item(menu, "Cancelar")).to_have_count(0)
    expect(item(menu, "Solicitar cancelación urgente")).to_have_count(0)
    expect(menu).to_contain_text("Ya enviado.")
    screenshot(page, "-4-sent")


def test_the_language_menu_switches_the_dashboard_to_spanish(
    marketer_page, marketer, list_url, make_sending, screenshot
):
    page = marketer_page  # a browser that asks for English
    make_sending("Rebajas de primavera", contacts=6, sizes=[3, None])
    page.goto(list_url)
    expect(page.get_by_role("table", name="Sendings")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")

    page.get_by_role("button", name="Español", exact=True).click()

    expect(page.get_by_role("table", name="Envíos")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(row_of(page, "Rebajas de primavera")).to_contain_text("2 lotes · 6 contactos")
    expect(page.get_by_role("button", name="Español", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    screenshot(page)
    assert user_preferred_language(user=marketer) == "es"
