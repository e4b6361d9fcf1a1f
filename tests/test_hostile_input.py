"""No request gets a 500: every URL pattern of the URLconf, as every persona, GET and POST,
with hostile values in every path id, query parameter and form field.

The URLs are filled with real ids of the personas' objects (an unknown parameter name fails
the test: give it a value below). Form fields are those of each page's own forms (read from
its HTML) plus the bases below, which reach deep code paths (a split schedule that would
overflow the calendar, a valid test send). Each request runs in a savepoint that is rolled
back, so every request sees the same data; one database setup serves the whole module.

Sampling, to stay fast on two cores: where a persona gets through (its plain request is not
refused), every hostile value goes into every path id and every POST field, one field at a
time, and into all of a GET's query parameters at once (each is read on its own, falling
back to its default); where a persona is refused (login, 403, 404), a few requests carry
hostile values in every slot at once, the values rotating over the URLs so that each one is
tried everywhere. The admin's patterns, one code base for every model, are sampled that way.
"""

import logging
import re
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from sendings.models import Contact, ContactImport
from sendings.unsubscribe.tokens import unsubscribe_token
from support import services as support_services
from tests.factories import (
    MembershipFactory,
    SendingFactory,
    SubaccountFactory,
    UserFactory,
    contact_list_with,
)
from tests.sendings.conftest import sending_in

HOSTILE = [
    "\x00",  # NUL: PostgreSQL refuses it in text and JSON
    "²",  # str.isdigit() says yes, int() says no
    "١٢",  # Arabic-Indic digits: int() says 12
    "99999999999999999999999",  # past 2**64
    "-1",
    "0",
    "9999-12-31",  # far dates
    "0001-01-01",
    "x" * 100_000,
    "a\r\nBcc: victim@example.org",  # CR/LF
    "%00%zz%%(name)s",  # percent signs
    "😀",  # emoji
    "a b",
    "//evil.example/",  # not a path of ours
    "https://evil.example/",
    "",
]
# Values that only mean something in a `next`; the other fields get the rest.
NEXT_HOSTILE = {"//evil.example/", "https://evil.example/", "a b"}
FIELD_HOSTILE = [value for value in HOSTILE if value not in NEXT_HOSTILE]
# What the pages' GETs and POSTs read besides their forms' fields.
QUERY_PARAMETERS = ["next", "q", "page", "status", "sort", "lists"]
REFUSED_SAMPLES = 3  # hostile requests per refused (persona, URL, method)
SERVER_ERROR = 500
# A 503 is what these answer when a service they report on is down (no beat nor worker runs
# here); an exception would still be caught.
UNAVAILABLE_BY_DESIGN = {"/healthz"}

# Valid submissions that reach deep: the hostile value replaces one field at a time.
_tomorrow = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%d")
_later = (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%d")
SCHEDULE_BASES = [
    # At most 100 batches every 10,000 days: valid field by field, far past the calendar.
    {
        "mode": "split",
        "split_count": "100",
        "split_every": "10000",
        "split_unit": "days",
        "split_date": _tomorrow,
        "split_time": "23:59",
    },
    {"mode": "at", "date": _tomorrow, "time": "23:59"},
    {
        "mode": "batches",
        "batch_date": [_tomorrow, _later],
        "batch_time": ["10:00", "10:00"],
        "batch_count": ["500", "500"],
        "remove_batch": "1",
    },
]
BASES = {
    "sending_new": [{"name": "N", "subject": "S", "from_email": "a@example.org"}],
    "wizard_details": [
        {"name": "N", "subject": "S", "from_name": "F", "from_email": "a@example.org"},
        {"name": "N", "nav": "back"},
    ],
    "wizard_design": [{"html_body": "<p>Hi</p>", "nav": "next"}],
    "wizard_text": [{"text_body": "Hi", "nav": "next"}, {"nav": "regenerate"}],
    "wizard_test": [{"addresses": "a@example.org", "nav": "send_test"}],
    "wizard_contacts": [{"lists": "LIST", "nav": "next"}],
    "wizard_audience": [{"lists": "LIST"}],
    "wizard_schedule": SCHEDULE_BASES,
    "contact_lists": [{"name": "New list"}],
    "contact_list_rename": [{"name": "Renamed"}],
    "ticket_request": [{"message": "Please stop it", "next": "/"}],
    "ticket_decline": [{"reason": "No"}],
    "login": [{"username": "marketer", "password": "wrong"}],
    "admin:login": [{"username": "marketer", "password": "wrong"}],
}
# Which of the personas' sendings each identifier URL is tried on: the wizard's the draft,
# these as below, the others the one in progress.
IDENTIFIER_OF = {
    "sending_cancel": "scheduled",
    "sending_batches": "scheduled",
    "batch_cancel": "scheduled",
}


@dataclass(frozen=True)
class Route:
    name: str
    route: str  # the pattern, for messages
    kwargs: dict  # real values
    sentinels: dict  # kwarg -> a unique valid value, replaced by hostile ones in the URL
    admin: bool


def _patterns(resolver=None, prefix="", namespace=""):
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _patterns(pattern, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), namespace, pattern


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """The personas and their objects, created once for the module and rolled back after."""
    with (
        django_db_blocker.unblock(),
        override_settings(SMALL_SENDING_MAX_RECIPIENTS=0),
        transaction.atomic(),
    ):
        # West of UTC: the last day of year 9999 there is already year 10000 in UTC.
        spain = SubaccountFactory(name="Spain", time_zone="America/Mexico_City")
        marketer = MembershipFactory(subaccount=spain, user__username="marketer").user
        marketer.email = "marketer@example.org"
        marketer.save(update_fields=["email"])
        viewer = MembershipFactory(subaccount=spain, user__username="viewer", role="viewer").user
        elsewhere = SubaccountFactory(name="Elsewhere")
        outsider = MembershipFactory(subaccount=elsewhere, user__username="outsider").user
        support_user = UserFactory(username="support", is_staff=True)
        support_user.groups.add(Group.objects.get_or_create(name="support")[0])

        big_list = contact_list_with(spain, 1000, name="Everyone")
        # An IDN sender: the test send must put it on the wire IDNA-encoded.
        draft = SendingFactory(subaccount=spain, name="Draft", from_email="news@exämple.com")
        draft.lists.add(big_list)
        sendings = {
            "draft": draft,
            "scheduled": sending_in("scheduled", spain, name="Scheduled"),
            "sending": sending_in("sending", spain, name="In progress"),
            "sent": sending_in("sent", spain, name="Sent"),
            "canceled": sending_in("canceled", spain, name="Canceled"),
            "elsewhere": sending_in("scheduled", elsewhere, name="Not yours"),
        }
        ticket, _ = support_services.ticket_file(
            sending=sendings["sending"], requester=marketer, message="Stop"
        )
        contact = Contact.objects.filter(subaccount=spain).order_by("pk").first()
        contact_import = ContactImport.objects.create(
            subaccount=spain, contact_list=big_list, file_name="contacts.csv", status="done"
        )
        yield {
            "users": {
                "marketer": marketer,
                "viewer": viewer,
                "outsider": outsider,
                "support": support_user,
            },
            "sendings": sendings,
            "values": {
                "subaccount_id": spain.pk,
                "list_id": big_list.pk,
                "import_id": contact_import.pk,
                "contact_id": contact.pk,
                "ticket_id": ticket.pk,
                "number": 2,  # still scheduled
                # The one-click link of a contact who received the sending in progress.
                "token": unsubscribe_token(
                    sending_id=sendings["sending"].pk, contact_id=contact.pk
                ),
            },
            "list_id": big_list.pk,
        }
        transaction.set_rollback(True)


def _routes(world) -> list[Route]:
    routes = []
    for text, namespace, pattern in _patterns():
        name = f"{namespace}{pattern.name}" if pattern.name else ""
        if not pattern.name:
            continue  # the admin's catch-alls and redirects: reached by the named ones
        converters = getattr(pattern.pattern, "converters", {})
        groups = list(pattern.pattern.regex.groupindex)
        kwargs, sentinels = {}, {}
        for number, kwarg in enumerate(groups):
            kwargs[kwarg] = _real_value(world, name, kwarg)
            if kwarg in converters:
                sentinels[kwarg] = _sentinel(converters[kwarg], number)
        routes.append(Route(name, text, kwargs, sentinels, admin=name.startswith("admin:")))
    return routes


def _real_value(world, name: str, kwarg: str):
    if kwarg == "identifier":
        editing = name.startswith("wizard_") or name in ("sending_edit", "sending_duplicate")
        return world["sendings"][
            "draft" if editing else IDENTIFIER_OF.get(name, "sending")
        ].identifier
    if name.startswith("admin:"):
        if kwarg == "app_label":
            return "sendings"
        if kwarg == "content_type_id":
            from django.contrib.contenttypes.models import ContentType

            return ContentType.objects.get_for_model(world["sendings"]["draft"]).pk
        return world["sendings"]["draft"].pk  # object_id, id: some real row
    assert kwarg in world["values"], f"{name}: give the hostile-input test a value for {kwarg}"
    return world["values"][kwarg]


def _sentinel(converter, number: int) -> str:
    """A valid value no real URL contains, to be replaced by hostile ones."""
    regex = converter.regex
    if regex.startswith("[A-Z]"):
        return f"SND-HOSTILE{number}X"
    if "0-9" in regex or regex == "[0-9]+":
        return str(31_000 + number)
    return f"hostile-sentinel-{number}"


def _url(route: Route, hostile: dict | None = None) -> str:
    kwargs = route.kwargs
    if not hostile:
        return reverse(route.name, kwargs=kwargs)
    url = reverse(route.name, kwargs={**kwargs, **{k: route.sentinels[k] for k in hostile}})
    for kwarg, value in hostile.items():
        url = url.replace(str(route.sentinels[kwarg]), quote(value, safe=""), 1)
    return url


_FIELDS_SEEN: dict[str, list[str]] = {}
# The query parameters of the page's own links (filters, pagers, cursors).
_LINK_PARAMETERS = re.compile(r"[?&](?:amp;)?([A-Za-z_][A-Za-z0-9_-]*)=")
_FIELD_NAMES = re.compile(r'<(?:input|select|textarea|button)\b[^>]*\bname="([^"]+)"')


class Probe:
    """Sends the requests, each in a savepoint rolled back afterwards, and keeps the 5xx."""

    def __init__(self, world):
        self.world = world
        self.failures: list[str] = []
        self.count = 0
        self.statuses: Counter = Counter()
        self.clients = {"anonymous": Client()}
        for persona, user in world["users"].items():
            client = Client()
            client.force_login(user)
            self.clients[persona] = client

    def send(self, persona, method, url, data=None, *, htmx=False, what=""):
        client = self.clients[persona]
        headers = {"HX-Request": "true", "HX-Current-URL": "http://testserver/"} if htmx else {}
        self.count += 1
        session = client.cookies.get(settings.SESSION_COOKIE_NAME)
        try:
            with transaction.atomic():
                if method == "GET":
                    response = client.get(url, data or {}, headers=headers)
                else:
                    response = client.post(url, data or {}, headers=headers)
                if response.streaming:  # a CSV export: its rows are made while it is read
                    for _chunk in response.streaming_content:
                        pass
                transaction.set_rollback(True)
        except Exception as error:  # the test client re-raises what the view raised
            self.failures.append(
                f"{persona} {method} {url[:120]} {what}: {type(error).__name__}: {str(error)[:200]}"
            )
            self.statuses["exception"] += 1
            return None
        finally:
            # The session row was rolled back with the request; so is the cookie (a logout,
            # a login as someone else), and the next request is the persona's again.
            if session is not None:
                client.cookies[settings.SESSION_COOKIE_NAME] = session.value
            client.cookies.pop("messages", None)
        self.statuses[response.status_code] += 1
        by_design = response.status_code == 503 and url.split("?")[0] in UNAVAILABLE_BY_DESIGN
        if response.status_code >= SERVER_ERROR and not by_design:
            self.failures.append(
                f"{persona} {method} {url[:120]} {what}: HTTP {response.status_code}"
            )
        return response

    def fields_of(self, route: Route, bases: list[dict]) -> list[str]:
        """The fields of the page's forms (read from what the best-placed persona sees, once
        for every persona's test)."""
        if route.name not in _FIELDS_SEEN:
            _FIELDS_SEEN[route.name] = self._fields_read(route, bases)
        return _FIELDS_SEEN[route.name]

    def _fields_read(self, route: Route, bases: list[dict]) -> list[str]:
        names = {name for base in bases for name in base}
        for persona in ("marketer", "support"):
            response = self.send(persona, "GET", _url(route), what="(fields)")
            if response is not None and response.status_code == 200 and not response.streaming:
                html = response.content.decode(errors="replace")
                names |= set(_FIELD_NAMES.findall(html)) | set(_LINK_PARAMETERS.findall(html))
        names.discard("csrfmiddlewaretoken")
        return sorted(names)


def _bases(route: Route, world) -> list[dict]:
    bases = []
    for base in BASES.get(route.name, [{}]):
        bases.append(
            {
                key: (str(world["list_id"]) if value == "LIST" else value)
                for key, value in base.items()
            }
        )
    return bases


def _refused(response) -> bool:
    if response is None:
        return False
    if response.status_code in (403, 404, 405):
        return True
    location = response.headers.get("Location", "")
    return response.status_code == 302 and "login" in location


PERSONAS = ["marketer", "viewer", "outsider", "support", "anonymous"]


@pytest.fixture
def quiet_request_logs():
    """Thousands of 404s and 400s are expected here; their log lines are noise."""
    names = ["django.request", "django.security", "axes"]
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.django_db
@pytest.mark.parametrize("persona", PERSONAS)
def test_no_hostile_request_gets_a_server_error(world, persona, settings, quiet_request_logs):
    settings.SMALL_SENDING_MAX_RECIPIENTS = 0  # so the urgent request and the stop go through
    probe = Probe(world)
    started = time.monotonic()
    routes = _routes(world)
    rotation = 0
    timings = []

    def rotating() -> str:
        nonlocal rotation
        rotation += 1
        return HOSTILE[rotation % len(HOSTILE)]

    for route in routes:
        route_started, route_count = time.monotonic(), probe.count
        bases = _bases(route, world)
        if route.admin:
            # The admin's views, the same code for every model: one request per persona and
            # method, every slot hostile, the value rotating over the patterns.
            for method in ("GET", "POST"):
                value = rotating()
                url = _url(route, dict.fromkeys(route.sentinels, value) if value else {})
                data = dict.fromkeys(["q", "o", "p", "next", "_changelist_filters"], value)
                probe.send(persona, method, url, data, what=f"all={value[:20]!r}")
            continue
        fields = probe.fields_of(route, bases)
        for method in ("GET", "POST"):
            plain = [probe.send(persona, method, _url(route), b, what="base") for b in bases]
            for base in bases:
                probe.send(persona, method, _url(route), base, htmx=True, what="htmx base")
            # A GET reads its query parameters (its links' and forms'); a POST its form's
            # fields and `next`.
            query = sorted({*QUERY_PARAMETERS, *fields})
            slots = query if method == "GET" else [*fields, "next"]
            if all(_refused(response) for response in plain):
                # Refused before any input is read: a few requests, every slot hostile.
                for _ in range(REFUSED_SAMPLES):
                    value = rotating()
                    hostile_path = dict.fromkeys(route.sentinels, value) if value else {}
                    url = _url(route, hostile_path)
                    data = {**bases[0], **dict.fromkeys(slots, value)}
                    probe.send(persona, method, url, data, what=f"all={value[:20]!r}")
                continue
            if method == "GET":
                # The resolver refuses a bad path id whatever the method: GET tries them all.
                for kwarg in route.sentinels:
                    for value in filter(None, HOSTILE):
                        url = _url(route, {kwarg: value})
                        probe.send(persona, method, url, what=f"{kwarg}={value[:20]!r}")
                # Query parameters are read each on its own, falling back to its default.
                for value in HOSTILE:
                    data = {**bases[0], **dict.fromkeys(slots, value)}
                    probe.send(persona, method, _url(route), data, what=f"all={value[:20]!r}")
                continue
            # Form fields, one at a time (an error in one must not hide another's path); the
            # other bases only vary the fields they set.
            for number, base in enumerate(bases):
                for slot in slots if number == 0 else [*base, "next"]:
                    values = HOSTILE if slot == "next" else FIELD_HOSTILE
                    for index, value in enumerate(values):
                        data, what = {**base, slot: value}, f"{slot}={value[:20]!r}"
                        # `next` is read by htmx and plain POSTs alike: both are tried.
                        htmx = slot == "next" and index % 2 == 1
                        url = _url(route)
                        probe.send(persona, method, url, data, htmx=htmx, what=what)
        timings.append((time.monotonic() - route_started, probe.count - route_count, route.name))
    elapsed = time.monotonic() - started
    for timing in sorted(timings, reverse=True)[:8]:
        print(f"  {timing[0]:.1f} s, {timing[1]} requests: {timing[2]}")
    print(
        f"\n{persona}: {probe.count:,} requests over {len(routes)} URL patterns in "
        f"{elapsed:.1f} s; statuses {dict(sorted(probe.statuses.items(), key=str))}"
    )
    assert probe.failures == [], f"{len(probe.failures)} of {probe.count} requests failed:\n" + (
        "\n".join(probe.failures[:60])
    )
