"""Which language a page is in (the saved preference, else Accept-Language, else
LANGUAGE_CODE), the language menu that saves it, and dates and numbers in each language."""

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from sendings.models import UserPreference
from sendings.pages import rows
from sendings.tenancy.language import SESSION_KEY
from tests.factories import PASSWORD, scheduled_sending

pytestmark = pytest.mark.django_db
SPANISH = {"HTTP_ACCEPT_LANGUAGE": "es-ES,es;q=0.9,en;q=0.5"}
ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.9"}


def lang_of(response) -> str:
    """The page's <html lang>, which must agree with the Content-Language header."""
    text = response.content.decode()
    start = text.index('<html lang="') + len('<html lang="')
    lang = text[start : text.index('"', start)]
    assert response["Content-Language"] == lang
    return lang


def prefer(user, language: str) -> None:
    UserPreference.objects.update_or_create(user=user, defaults={"language": language})


def signed_in(user) -> Client:
    """A fresh browser that logs in through the login page, as a person would."""
    browser = Client()
    response = browser.post(
        reverse("login"), {"username": user.get_username(), "password": PASSWORD}
    )
    assert response.status_code == 302, response.content.decode()
    return browser


# --- Preference, then Accept-Language, then LANGUAGE_CODE -------------------------------------


def test_anonymous_pages_follow_accept_language_else_the_default(client):
    login = reverse("login")
    assert lang_of(client.get(login, **SPANISH)) == "es"
    assert lang_of(client.get(login, **ENGLISH)) == "en"
    assert lang_of(client.get(login, HTTP_ACCEPT_LANGUAGE="fr-FR,de;q=0.8")) == "en"
    assert lang_of(client.get(login)) == settings.LANGUAGE_CODE == "en"
    assert "Accept-Language" in client.get(login)["Vary"]


def test_the_saved_preference_beats_accept_language(marketer, subaccount):
    page = reverse("sending_list", args=[subaccount.pk])
    browser = signed_in(marketer)
    assert lang_of(browser.get(page, **SPANISH)) == "es"  # nothing saved: the browser's

    prefer(marketer, "en")
    browser = signed_in(marketer)  # read at login, kept in the session
    assert lang_of(browser.get(page, **SPANISH)) == "en"

    prefer(marketer, "es")
    browser = signed_in(marketer)
    response = browser.get(page, **ENGLISH)
    assert lang_of(response) == "es"
    assert "Programado" in response.content.decode()  # the status badge, from the model


def test_a_session_from_before_the_preference_existed_reads_it_once(client, marketer, subaccount):
    prefer(marketer, "es")
    client.force_login(marketer)
    session = client.session
    del session[SESSION_KEY]
    session.save()
    page = reverse("sending_list", args=[subaccount.pk])

    assert lang_of(client.get(page, **ENGLISH)) == "es"
    assert client.session[SESSION_KEY] == [marketer.pk, "es"]


# --- The language menu ------------------------------------------------------------------------


def test_the_menu_is_a_labelled_form_on_every_page(client, marketer, subaccount):
    for response in [
        client.get(reverse("login")),
        (client.force_login(marketer), client.get(reverse("sending_list", args=[subaccount.pk])))[
            1
        ],
    ]:
        text = response.content.decode()
        assert f'action="{reverse("language_set")}"' in text
        assert 'name="csrfmiddlewaretoken"' in text
        assert 'aria-labelledby="language-menu-label"' in text
        assert '<button type="submit" name="language" value="es" lang="es"' in text
        assert 'value="en" lang="en" class="button button-ghost button-sm" aria-pressed="true"' in (
            text
        )


def test_the_menu_saves_a_signed_in_users_choice_and_goes_back(marketer, subaccount):
    browser = signed_in(marketer)
    page = reverse("sending_list", args=[subaccount.pk]) + "?status=scheduled"

    response = browser.post(reverse("language_set"), {"language": "es", "next": page}, **ENGLISH)

    assert (response.status_code, response["Location"]) == (302, page)
    assert UserPreference.objects.get(user=marketer).language == "es"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "es"
    assert lang_of(browser.get(page, **ENGLISH)) == "es"
    # Saved on the user: another browser, after logging in, gets it too.
    assert lang_of(signed_in(marketer).get(page, **ENGLISH)) == "es"

    browser.post(reverse("language_set"), {"language": "en", "next": page})
    assert UserPreference.objects.get(user=marketer).language == "en"
    assert lang_of(browser.get(page, **SPANISH)) == "en"


def test_the_menu_on_the_login_page_keeps_the_choice_in_a_cookie(client):
    login = reverse("login")
    response = client.post(reverse("language_set"), {"language": "es", "next": login}, **ENGLISH)

    assert (response.status_code, response["Location"]) == (302, login)
    assert not UserPreference.objects.exists()
    assert lang_of(client.get(login, **ENGLISH)) == "es"


@pytest.mark.parametrize("language", ["", "fr", "ES", "es-xx", "\x00", "x" * 10_000])
def test_an_unknown_language_is_a_400(client, marketer, language):
    client.force_login(marketer)
    response = client.post(reverse("language_set"), {"language": language, "next": "/"})
    assert response.status_code == 400
    assert "Choose one of the languages offered." in response.content.decode()
    assert not UserPreference.objects.exists()


@pytest.mark.parametrize(
    "next_url", ["//evil.example/", "https://evil.example/", "/\\evil.example", "home", ""]
)
def test_a_hostile_next_goes_home_instead(client, marketer, next_url):
    client.force_login(marketer)
    response = client.post(reverse("language_set"), {"language": "es", "next": next_url})
    assert (response.status_code, response["Location"]) == (302, reverse("home"))
    anonymous = Client().post(reverse("language_set"), {"language": "es", "next": next_url})
    assert (anonymous.status_code, anonymous["Location"]) == (302, reverse("login"))


def test_the_menu_only_takes_a_post(client):
    assert client.get(reverse("language_set"), {"language": "es"}).status_code == 405


# --- Dates, times and numbers -----------------------------------------------------------------


def test_dates_and_numbers_follow_the_language_on_real_pages(client, marketer, subaccount):
    # 09:00 UTC on 1 December is 10:00 in Madrid (the subaccount's zone).
    at = timezone.datetime(2031, 12, 1, 9, 0, tzinfo=timezone.UTC)
    sending = scheduled_sending(subaccount, contacts=1187, first_at=at)
    client.force_login(marketer)
    listing = reverse("sending_list", args=[subaccount.pk])
    detail = reverse("sending_detail", args=[sending.identifier])

    english, spanish = (client.get(listing, **ENGLISH), client.get(listing, **SPANISH))
    assert "1 Dec 2031, 10:00" in english.content.decode()
    assert "1,187" in english.content.decode()
    assert "1 dic 2031, 10:00" in spanish.content.decode()
    assert "1.187" in spanish.content.decode()
    assert "1,187" not in spanish.content.decode()
    assert "<dd>1,187</dd>" in client.get(detail, **ENGLISH).content.decode()
    assert "<dd>1.187</dd>" in client.get(detail, **SPANISH).content.decode()


def test_the_row_cache_keeps_one_row_per_language(subaccount):
    sending = scheduled_sending(subaccount, contacts=1)
    context = {"can_act": True}
    with translation.override("en"):
        english = rows._key(sending, context)
    with translation.override("es"):
        spanish = rows._key(sending, context)
    with translation.override("en"):
        assert rows._key(sending, context) == english
    assert english != spanish


def test_the_javascript_catalog_answers_in_the_active_language(client):
    response = client.get(reverse("javascript_catalog"), **SPANISH)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert "django.gettext" in response.content.decode()
    assert response["Content-Language"] == "es"
