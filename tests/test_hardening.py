"""Each mechanism that keeps hostile input from becoming a 500 or a broken delivery, and the
production settings: converters, the redirect helper, form fields, addresses on the wire,
the row cache's keys, the stop signals' own cache, login throttling and `check --deploy`."""

import email
import os
import re
import secrets
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.cache import cache, caches
from django.test import RequestFactory, override_settings
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone

from batches import halt
from batches.mime import address_wire_problem
from batches.rendering import Content, message_build
from sendings import fields
from sendings.pages.shell import is_site_path, redirect_back, safe_next
from sendings.wizard.forms import SendingDetailsForm, SendingTestForm
from sendings.wizard.schedule import SendingScheduleForm
from support import emails
from tests.factories import SendingFactory
from tests.sendings.conftest import sending_in

ROOT = Path(__file__).resolve().parents[1]

# --- Path converters -----------------------------------------------------------------------------


@pytest.mark.parametrize("id_", ["1", "9223372036854775807"])
def test_ids_that_fit_a_bigint_reach_the_view(id_):
    assert resolve(f"/lists/{id_}/").kwargs == {"list_id": int(id_)}


@pytest.mark.parametrize(
    "path",
    [
        "/lists/9223372036854775808/",  # 2**63
        "/lists/99999999999999999999999/",
        "/lists/0/",
        "/lists/-1/",
        "/lists/²/",
        "/lists/١٢/",
        "/sendings/\x00/",
        "/sendings/SND-ABC\x00/",
        "/sendings/snd-lowercase/",
        "/sendings/SND-ÄÖ/",
        "/sendings/" + "SND-" + "A" * 40 + "/",
        "/sendings/SND-ABC/batches/40000/cancel/",
    ],
)
def test_ids_out_of_range_and_identifiers_out_of_their_alphabet_are_not_found(path):
    with pytest.raises(Resolver404):
        resolve(path)


def test_the_demo_identifiers_still_resolve():
    assert resolve("/sendings/SND-DEMO00000001/").kwargs == {"identifier": "SND-DEMO00000001"}


# --- Redirects -----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/", "/subaccounts/1/sendings/?q=a%20b&page=2", "/é/"])
def test_paths_of_the_site_are_safe_to_go_back_to(url):
    assert is_site_path(url)


@pytest.mark.parametrize(
    "url",
    [
        "0",  # redirect() would look this up as a view name
        "²",
        "a b",
        "sending_list",
        "//evil.example/",
        "/\\evil.example/",
        "https://evil.example/",
        "javascript:alert(1)",
        "/\r\nSet-Cookie: x=1",
        "/\x00",
        "/" + "x" * 3000,
        "",
    ],
)
def test_anything_else_falls_back(url):
    request = RequestFactory().post("/", {"next": url})
    assert not is_site_path(url)
    assert safe_next(request, "/fallback/") == "/fallback/"
    assert redirect_back(request, "/fallback/").url == "/fallback/"


@pytest.mark.django_db
def test_a_cancel_with_a_next_that_is_not_a_path_lands_on_the_list(client, marketer, subaccount):
    sending = sending_in("scheduled", subaccount)
    client.force_login(marketer)

    response = client.post(reverse("sending_cancel", args=[sending.identifier]), {"next": "0"})

    assert response.status_code == 302
    assert response.url == reverse("sending_list", args=[subaccount.pk])


# --- Form fields ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("12", 12), (" 7 ", 7), ("²", None), ("١٢", None), ("1e3", None), ("9" * 30, None)],
)
def test_whole_numbers_are_ascii_digits_within_bounds(text, expected):
    assert fields.whole_number(text) == expected


def test_a_whole_number_field_says_what_is_wrong():
    field = fields.WholeNumberField(min_value=1, max_value=100)
    assert field.clean("42") == 42
    for bad in ("²", "١٢", "101", "0", "9" * 5000):
        with pytest.raises(fields.forms.ValidationError):
            field.clean(bad)


def test_single_line_fields_refuse_line_breaks_and_control_characters():
    for name in ("Spring\r\nBcc: x@example.org", "Tab\there", "Line\u2028separator"):
        form = SendingDetailsForm({"name": name, "subject": "S", "from_email": "a@example.org"})
        assert not form.is_valid()
        assert form.errors["name"] == ["Use a single line: no line breaks or tabs."]
    emoji = SendingDetailsForm({"name": "Sale 😀 %", "subject": "S", "from_email": "a@b.org"})
    assert emoji.is_valid(), emoji.errors


def test_dates_outside_the_sane_window_are_a_field_error():
    field = fields.BoundedDateField(input_formats=["%Y-%m-%d"])
    assert field.clean("2030-05-01") == date(2030, 5, 1)
    for far in ("9999-12-31", "0001-01-01"):
        with pytest.raises(fields.forms.ValidationError, match="between 2000 and 2099"):
            field.clean(far)


def _schedule(data: dict, audience: int = 5000) -> SendingScheduleForm:
    import zoneinfo

    from django.http import QueryDict

    query = QueryDict(mutable=True)
    query.update(data)
    return SendingScheduleForm(
        query,
        zone=zoneinfo.ZoneInfo("America/Mexico_City"),
        now=timezone.now(),
        audience=audience,
        undo_seconds=30,
    )


def _split(**changes) -> dict:
    tomorrow = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%d")
    return {
        "mode": "split",
        "split_count": "3",
        "split_every": "1",
        "split_unit": "days",
        "split_date": tomorrow,
        "split_time": "23:59",
        **changes,
    }


def test_the_split_count_is_at_most_the_maximum_of_batches():
    form = _schedule(_split(split_count="1000"))
    assert not form.is_valid()
    assert "less than or equal to 100" in form.errors["split_count"][0]


def test_a_split_past_the_calendar_is_a_form_error_not_an_overflow():
    form = _schedule(_split(split_count="100", split_every="10000"))

    assert not form.is_valid()
    assert "more than 5 years ahead" in form.errors["split_every"][0]


def test_a_far_date_is_a_form_error():
    form = _schedule({"mode": "at", "date": "2099-12-31", "time": "23:59"})

    assert not form.is_valid()
    assert "more than 5 years ahead" in form.errors["date"][0]


def test_typed_schedule_values_are_kept_without_control_characters():
    from django.http import QueryDict

    data = QueryDict(mutable=True)
    data.update({"mode": "at\x00", "date": "2030-01-01\x00"})
    data.setlist("batch_count", ["1\x00", "²"])

    draft = SendingScheduleForm.draft_of(data)

    assert draft["mode"] == "at" and draft["date"] == "2030-01-01"
    assert [row["count"] for row in draft["rows"]] == ["1", "²"]


# --- Addresses on the wire -----------------------------------------------------------------------


@pytest.mark.parametrize("address", ["news@example.com", "news@exämple.com", "a.b+c@sub.example"])
def test_addresses_that_can_go_on_the_wire(address):
    assert address_wire_problem(address) is None


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("josé@example.com", "before the @"),
        ("news@[127.0.0.1]", "not an IP address"),
        ("news@" + "é" * 70 + ".com", "not a domain name"),
        ("x" * 65 + "@example.com", "longer than 64"),
        ("news@" + ("a" * 60 + ".") * 4 + "example.com", "longer than 254"),
        ("news", "needs a name, an @ and a domain"),
    ],
)
def test_addresses_that_cannot_go_on_the_wire_say_why(address, problem):
    assert problem in address_wire_problem(address)


def test_the_sender_address_is_refused_at_the_form_with_the_reason():
    form = SendingDetailsForm({"name": "N", "subject": "S", "from_email": "news@[127.0.0.1]"})
    assert not form.is_valid()
    assert form.errors["from_email"] == ["Use a domain name after the @, not an IP address."]
    idn = SendingDetailsForm({"name": "N", "subject": "S", "from_email": "news@exämple.com"})
    assert idn.is_valid(), idn.errors


def test_test_addresses_are_checked_for_the_wire_too():
    form = SendingTestForm({"addresses": "ok@example.org, josé@example.org"})
    assert not form.is_valid()
    assert "josé@example.org" in form.errors["addresses"][0]


@pytest.mark.django_db
def test_an_idn_sender_reaches_every_header_idna_encoded(subaccount):
    sending = SendingFactory(subaccount=subaccount, from_email="news@exämple.com")

    class Claim:
        email, name, contact_id = "ana@exämple.org", "Ana", None

    raw = message_build(Content.of(sending), Claim()).message().as_bytes()

    assert raw.isascii()
    assert b"From: Acme <news@xn--exmple-cua.com>" in raw
    unsubscribe = email.message_from_bytes(raw)["List-Unsubscribe"]
    assert ", <mailto:news@xn--exmple-cua.com?" in unsubscribe
    assert b"To: Ana <ana@xn--exmple-cua.org>" in raw


@pytest.mark.django_db
def test_an_outcome_email_subject_is_one_line_whatever_the_name(subaccount, marketer):
    from support.models import Ticket

    sending = sending_in("sending", subaccount)
    ticket = Ticket(
        sending=sending,
        requested_by=marketer,
        account_identifier="ACC-X",
        sending_name="Spring\r\nBcc: victim@example.org",
        sending_identifier=sending.identifier,
    )
    marketer.email = "m@example.org"

    message = emails.requester_outcome(ticket)

    assert "\n" not in message.subject and "\r" not in message.subject
    message.message()  # Django raises BadHeaderError on a newline in a header


# --- The row cache's keys ------------------------------------------------------------------------


def _row_keys() -> set[str]:
    client = cache._cache.get_client()
    return {key.decode() for key in client.keys("*row:*")}


@pytest.mark.django_db
def test_junk_parameters_and_searches_add_no_cache_keys(client, marketer, subaccount):
    sending_in("scheduled", subaccount, name="Spring sale")
    client.force_login(marketer)
    url = reverse("sending_list", args=[subaccount.pk])
    client.get(url)
    keys = _row_keys()
    assert keys, "rows were not cached"

    for number in range(20):
        client.get(url, {"utm": "x" * 500 + str(number), "junk": str(number)})
        client.get(url, {"q": f"Spring{number}"[:6] + " " * number})

    assert _row_keys() == keys


@pytest.mark.django_db
def test_cached_rows_still_return_to_the_page_they_are_on(client, marketer, subaccount):
    sending_in("scheduled", subaccount, name="Spring sale")
    client.force_login(marketer)
    url = reverse("sending_list", args=[subaccount.pk])
    client.get(url)

    page = client.get(url, {"q": "Spring", "junk": "<script>"}).content.decode()

    assert f'name="next" value="{url}?q=Spring"' in page
    assert 'name="next" value="' + url + "?junk" not in page and "\x00" not in page


# --- The workers' stop signals -------------------------------------------------------------------


def test_stop_signals_survive_a_page_cache_that_culls(tmp_path):
    small = {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(tmp_path / "pages"),
        "OPTIONS": {"MAX_ENTRIES": 20, "CULL_FREQUENCY": 2},
    }
    signals = {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(tmp_path / "signals"),
    }
    with override_settings(CACHES={"default": small, "signals": signals}):
        halt.halt_announce(4242)
        for number in range(500):  # junk traffic filling the pages' cache
            caches["default"].set(f"row:junk:{number}", "x" * 100)

        assert halt.halt_announced(4242)
        assert len(list((tmp_path / "pages").iterdir())) <= 21


# --- Login throttling ----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("login_url", ["/accounts/login/", "/admin/login/"])
def test_repeated_wrong_passwords_lock_the_login_until_it_unlocks_by_itself(
    client, settings, login_url
):
    from tests.factories import UserFactory

    user = UserFactory(username="ana", is_staff=True)
    user.set_password("right-password")
    user.save()
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)

    with time_machine.travel(timezone.now(), tick=False) as clock:
        wrong = [client.post(login_url, {"username": "ana", "password": "wrong"}) for _ in range(3)]
        locked = client.post(login_url, {"username": "ana", "password": "right-password"})

        assert [r.status_code for r in wrong[:2]] == [200, 200]
        assert locked.status_code == 429
        assert "Too many failed logins" in locked.content.decode()
        assert "paused for 15 minutes" in locked.content.decode()
        assert "_auth_user_id" not in client.session

        clock.shift(timedelta(minutes=16))
        unlocked = client.post(login_url, {"username": "ana", "password": "right-password"})

    assert unlocked.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


@pytest.mark.django_db
def test_a_lock_out_is_per_username(client, settings):
    from tests.factories import UserFactory

    settings.AXES_FAILURE_LIMIT = 2
    other = UserFactory(username="bob")
    other.set_password("bobs-password")
    other.save()
    for _ in range(2):
        client.post("/accounts/login/", {"username": "ana", "password": "wrong"})

    response = client.post("/accounts/login/", {"username": "bob", "password": "bobs-password"})

    assert response.status_code == 302


# --- Production settings -------------------------------------------------------------------------


def _readme_production_environment() -> str:
    """The README's example production environment (the sh block after "Deploying")."""
    readme = (ROOT / "README.md").read_text()
    deploying = readme[readme.index("## Deploying") :]
    block = re.search(r"```sh\n(export DEBUG=false\n.*?)```", deploying, re.DOTALL)
    assert block, "the README's Deploying section lost its example environment"
    return block[1]


def _manage(script: str, *args: str) -> subprocess.CompletedProcess:
    """manage.py with exactly the environment `script` (shell exports) sets up."""
    base = {key: os.environ[key] for key in ("PATH", "HOME") if key in os.environ}
    command = f'{script}\nexec "$@"'
    return subprocess.run(
        ["bash", "-c", command, "manage", sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, "VAR_DIR": str(ROOT / "var")},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_the_readmes_production_example():
    key = secrets.token_urlsafe(50)
    result = _manage(
        _readme_production_environment() + f"export SECRET_KEY={key}\n",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    "key", ["x", "replace-me-with-50-or-more-random-characters-see-the-table-above", "ab" * 40]
)
def test_a_short_or_placeholder_secret_key_stops_start_up(key):
    result = _manage(
        _readme_production_environment() + f"export SECRET_KEY={key}\n", "check", "--deploy"
    )

    assert result.returncode != 0
    assert "SECRET_KEY must be at least 50 characters" in result.stderr


def test_plain_http_is_redirected_to_https_by_default_in_production():
    result = _manage(
        _readme_production_environment() + f"export SECRET_KEY={secrets.token_urlsafe(50)}\n",
        "shell",
        "-c",
        "from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER)",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == (
        "True 31536000 ('HTTP_X_FORWARDED_PROTO', 'https')"
    )


# --- Fragments and pages at one URL --------------------------------------------------------------


@pytest.mark.django_db
def test_support_pages_say_they_vary_on_htmx(client, support_user, subaccount, marketer, settings):
    from support import services as support_services

    settings.SMALL_SENDING_MAX_RECIPIENTS = 0
    ticket, _ = support_services.ticket_file(
        sending=sending_in("sending", subaccount), requester=marketer
    )
    client.force_login(support_user)

    for url in (reverse("ticket_queue"), reverse("ticket_detail", args=[ticket.pk])):
        page = client.get(url)
        fragment = client.get(url, headers={"HX-Request": "true"})

        assert b"<html" in page.content and b"<html" not in fragment.content
        for response in (page, fragment):
            assert "HX-Request" in response.headers["Vary"], url
