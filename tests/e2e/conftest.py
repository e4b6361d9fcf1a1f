"""Browser tests: Debian's Chromium, driven by Playwright, against pytest-django's live server.

Playwright's own browser download does not work on these machines, so the session's browser is
Debian's /usr/bin/chromium (`make test` installs it with apt); without it every test here skips.
"""

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import BrowserContext, Page, expect

from batches import services as batch_services
from sendings.models import Sending
from tests.factories import scheduled_sending

# Playwright's sync API runs an event loop in the test thread; the ORM would refuse to run there.
# scripts/with-test-services exports this too; set it here for a bare `pytest tests/e2e` as well.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"
EXPECT_TIMEOUT_MS = 5_000

expect.set_options(timeout=EXPECT_TIMEOUT_MS)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is missing (Debian: apt-get install chromium); `make test` installs it"
        )
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture
def new_context(new_context) -> Callable[..., BrowserContext]:
    """pytest-playwright's context factory, with short timeouts: a missing element fails fast."""

    def _new_context(**kwargs) -> BrowserContext:
        context = new_context(**kwargs)
        context.set_default_timeout(EXPECT_TIMEOUT_MS)
        context.set_default_navigation_timeout(10_000)
        return context

    return _new_context


# --- Logging in and reaching the list ------------------------------------------------------------


@pytest.fixture
def log_in(live_server) -> Callable[[BrowserContext, object], None]:
    """Log a user into a browser context by handing it a real session cookie (no form round trip).

    One test logs in through the login form itself; the others use this.
    """

    def _log_in(context: BrowserContext, user) -> None:
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}]
        )

    return _log_in


@pytest.fixture
def list_url(live_server, subaccount) -> str:
    return live_server.url + reverse("sending_list", kwargs={"subaccount_id": subaccount.pk})


@pytest.fixture
def marketer_page(page: Page, context: BrowserContext, log_in, marketer) -> Page:
    """The marketer's browser tab, logged in (nothing opened yet)."""
    log_in(context, marketer)
    return page


# --- Sendings in each status, through the services (as in tests/sendings/test_lifecycle.py) ----


def _start(batch) -> None:
    assert batch_services.batch_start(batch_id=batch.pk, now=batch.scheduled_at + timedelta(days=3))


def _deliver_all(batch) -> None:
    ids = list(batch.recipients.filter(status="pending").values_list("id", flat=True))
    batch_services.recipients_record_results(batch_id=batch.pk, sent=ids)
    assert batch_services.batch_finish(batch_id=batch.pk)


@pytest.fixture
def make_sending(subaccount) -> Callable[..., Sending]:
    """A sending named `name` in `status`: scheduled (optionally in batches), sending or sent.

    `sent_batches` sends that many leading batches first, so a scheduled sending in batches can
    already have delivered its first batch.
    """

    def _make(
        name: str,
        status: str = "scheduled",
        *,
        contacts: int = 4,
        sizes: list[int | None] | None = None,
        sent_batches: int = 0,
        first_in: timedelta = timedelta(days=1),
    ) -> Sending:
        sending = scheduled_sending(
            subaccount, contacts=contacts, sizes=sizes, first_at=timezone.now() + first_in
        )
        Sending.objects.filter(pk=sending.pk).update(name=name)
        batches = list(sending.batches.order_by("number"))
        for batch in batches[:sent_batches]:
            _start(batch)
            _deliver_all(batch)
        if status in ("sending", "sent"):
            for batch in batches[sent_batches:]:
                _start(batch)
                if status == "sent":
                    _deliver_all(batch)
                else:
                    break
        sending.refresh_from_db()
        assert sending.status == status, (sending.status, status)
        return sending

    return _make


# --- Screenshots ---------------------------------------------------------------------------------


@pytest.fixture
def screenshot(request) -> Callable[[Page], Path]:
    """Save the page as tests/artifacts/screenshots/<test name>.png (full page)."""

    def _screenshot(page: Page, suffix: str = "") -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{request.node.originalname}{suffix}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return _screenshot
